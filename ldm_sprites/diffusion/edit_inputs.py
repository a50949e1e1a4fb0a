"""The inputs of an edit: sprites and masks, loaded and fitted the way training fits its data.

Sprites come from files, folders, arrays or ``EditInput``s and go through the training data's
loading and fitting (``load_inputs``; 3-channel models get them composited on the training
background); masks come from a region ``x,y,w,h`` or a mask image and are fitted with their sprite
(``fit_mask``). Everything that can be wrong with them is a one-line ``UserError`` raised before
any sampling. ``editing.py`` runs the edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ldm_sprites.errors import UserError


@dataclass
class EditInput:
    """One input sprite: its name, the file's pixels and the fitted (model-size) pixels."""

    name: str
    original: np.ndarray    # (h, w, 4) uint8 as read
    fitted: np.ndarray      # (S, S, 4) uint8 as the model sees it (training's fitting)


def fit_input(rgba: np.ndarray, size: int, name: str) -> np.ndarray:
    """Training's fitting (crop/pad into the square, centred), refusing what only resampling
    could fit: a resized sprite is not the sprite any more, and inpainting could not keep its
    pixels."""
    from ldm_sprites.data.images import fit_square

    ys, xs = np.nonzero(rgba[..., 3])
    if len(ys) == 0:
        raise UserError(f"{name} is fully transparent: nothing to edit")
    h, w = rgba.shape[:2]
    ch, cw = int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1
    if (h > size or w > size) and (ch > size or cw > size):
        raise UserError(f"{name}: its visible content is {cw}x{ch} pixels but this model draws "
                        f"{size}x{size} sprites; crop or scale it to fit {size}x{size} first")
    return fit_square(rgba, size, "nearest")


def _read_image(path: Path) -> np.ndarray:
    from ldm_sprites.data.images import ImageDecodeError, load_rgba

    try:
        return load_rgba(path)
    except ImageDecodeError as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _expand(sources) -> list:
    from ldm_sprites.data.images import is_image_file

    if isinstance(sources, (str, Path, np.ndarray, EditInput)):
        sources = [sources]
    out = []
    for src in sources:
        if isinstance(src, (np.ndarray, EditInput)):
            out.append(src)
            continue
        p = Path(src)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not files:
                raise UserError(f"{p} holds no images (PNG, JPEG, GIF, WebP, BMP)")
            out.extend(files)
        elif not p.exists():
            raise UserError(f"{p} does not exist")
        else:
            out.append(p)
    if not out:
        raise UserError("no input sprites given")
    return out


def load_inputs(pipe, sources) -> list[EditInput]:
    """Sprites from files, folders (their images, sorted), (h, w, 4) uint8 arrays or
    ``EditInput``s (kept as they are), fitted the
    way training fits them; 3-channel models get them composited on the training background."""
    from ldm_sprites.data.images import composite_on, parse_color

    spec = pipe.data_spec
    inputs = []
    for i, src in enumerate(_expand(sources)):
        if isinstance(src, EditInput):  # already loaded and fitted (the CLI checks first)
            inputs.append(src)
            continue
        if isinstance(src, np.ndarray):
            name, rgba = f"sprite-{i:03d}", np.asarray(src)
            if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[-1] != 4:
                raise UserError(f"input {i} must be an (H, W, 4) uint8 RGBA array, got "
                                f"{rgba.dtype} {tuple(rgba.shape)}")
        else:
            name, rgba = Path(src).stem, _read_image(Path(src))
        fitted = fit_input(rgba, spec.size, name if isinstance(src, np.ndarray) else str(src))
        if spec.channels == 3:
            fitted = composite_on(fitted, parse_color(spec.background))
        inputs.append(EditInput(name, rgba, fitted))
    return inputs


def to_model(pipe, rgba: np.ndarray) -> torch.Tensor:
    """(N, S, S, 4) uint8 -> model-space pixels (N, C, S, S), as training converts them."""
    from ldm_sprites.data.tensors import rgba_uint8_to_model

    return rgba_uint8_to_model(torch.from_numpy(np.ascontiguousarray(rgba)).permute(0, 3, 1, 2),
                               pipe.data_spec.channels)


def parse_region(text: str, width: int, height: int) -> np.ndarray:
    """'x,y,w,h' (pixels of the input image, origin top left) -> (height, width) bool mask."""
    try:
        x, y, w, h = (int(v) for v in str(text).split(","))
    except ValueError:
        raise UserError(f"--region '{text}' must be four whole numbers x,y,w,h "
                        "(pixels, origin top left)") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise UserError(f"--region {x},{y},{w},{h} does not lie inside the {width}x{height} "
                        "sprite (need w, h >= 1 and x + w, y + h within it)")
    mask = np.zeros((height, width), bool)
    mask[y:y + h, x:x + w] = True
    return mask


def read_mask(source, width: int, height: int) -> np.ndarray:
    """A mask file or array -> (height, width) bool, True = redraw. Files: an image with
    transparency marks the region with its opaque pixels (paint it on a transparent layer);
    an opaque one with its white pixels (black/white mask). Arrays: non-zero = redraw."""
    if isinstance(source, np.ndarray):
        arr, name = np.asarray(source), "the mask"
        mask = arr > (127 if arr.dtype == np.uint8 else 0)
        if mask.ndim == 3:
            mask = mask.any(-1)
    else:
        name = str(source)
        rgba = _read_image(Path(source))
        alpha = rgba[..., 3]
        if (alpha < 255).any():
            mask = alpha >= 128
        else:
            luma = rgba[..., :3].astype(np.int32) @ np.array([299, 587, 114])
            mask = luma >= 128 * 1000
    if mask.shape != (height, width):
        raise UserError(f"{name} is {mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]} "
                        f"pixels but the sprite is {width}x{height}; the mask must have the "
                        "sprite's size")
    return mask


def fit_mask(mask: np.ndarray, inp: EditInput, name: str = "the mask") -> np.ndarray:
    """A mask of the input's size -> (S, S) bool on the fitted sprite, moved exactly as
    ``fit_input`` moved the pixels; refuses an empty or a full mask."""
    from ldm_sprites.data.images import fit_square

    if not mask.any():
        raise UserError(f"{name} selects no pixels: nothing to inpaint (white, or opaque, "
                        "pixels mark the region to redraw)")
    if mask.all():
        raise UserError(f"{name} covers the whole sprite: that is generating from scratch; "
                        "use 'ldmsprites generate' (or 'vary --strength 1')")
    # Carry the mask in the colour channels of a copy of the sprite: fit_square then crops and
    # pads it with the sprite's own geometry (nearest, never resampled: fit_input checked).
    carrier = np.dstack([mask.astype(np.uint8) * 255] * 3 + [inp.original[..., 3]])
    size = inp.fitted.shape[0]
    fitted = fit_square(carrier, size, "nearest")[..., 0] >= 128
    if not fitted.any():
        raise UserError(f"{name} selects only pixels outside the part of {inp.name} the model "
                        f"sees ({size}x{size} around its visible pixels): nothing to inpaint")
    return fitted
