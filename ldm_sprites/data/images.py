"""Decode any sprite image into RGBA uint8 and fit it into a square without ruining pixel art."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from ldm_sprites.runtime import IMAGE_SUFFIXES

# Sprites are small; anything beyond this is a decompression bomb or not a sprite.
MAX_PIXELS = 16_000_000
RESAMPLE = {"nearest": Image.Resampling.NEAREST, "area": Image.Resampling.BOX,
            "lanczos": Image.Resampling.LANCZOS}


class ImageDecodeError(ValueError):
    """An image file that cannot be turned into pixels (corrupt, truncated, too large, not an image)."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def to_rgba(img: Image.Image) -> np.ndarray:
    """Convert any PIL mode to RGBA uint8, keeping palette transparency and 16-bit precision right."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: PIL's convert("L") clips instead of scaling, so scale by hand.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        return np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        grey = np.clip(np.round(arr * 255.0 if arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
        return np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    if mode == "P" or mode == "PA":
        # Palette images may carry transparency in info["transparency"]; RGBA conversion honours it.
        img = img.convert("RGBA")
    elif mode == "CMYK" or mode == "YCbCr" or mode == "LAB" or mode == "HSV":
        img = img.convert("RGB").convert("RGBA")
    elif mode != "RGBA":
        img = img.convert("RGBA")
    return np.array(img, dtype=np.uint8)


@contextlib.contextmanager
def open_image(path: str | Path) -> Iterator[Image.Image]:
    """Open an image for reading with the sprite size limit; *every* failure inside the ``with``
    block (PIL decodes lazily, so also in ``convert``/``load``) becomes an ``ImageDecodeError``
    naming the file. The one place where untrusted image files are opened."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageDecodeError(f"{path.name} is {img.width}x{img.height} pixels, "
                                           "too large for a sprite (decompression bomb?)")
                yield img
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"{path.name} is too large to be a sprite (decompression bomb?)") from None
    except MemoryError:
        raise ImageDecodeError(f"{path.name} is too large to decode") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        if isinstance(exc, FileNotFoundError):
            raise ImageDecodeError(f"{path.name}: file not found") from None
        if isinstance(exc, UnidentifiedImageError):
            raise ImageDecodeError(f"{path.name} is not an image (empty, or another kind of file "
                                   "named like one)") from None
        raise ImageDecodeError(f"{path.name} is damaged ({type(exc).__name__}: {exc})") from None


def load_rgba(path: str | Path) -> np.ndarray:
    """Read an image file as an (H, W, 4) uint8 RGBA array; animated files give their first frame."""
    path = Path(path)
    with open_image(path) as img:
        frame = next(iter(ImageSequence.Iterator(img)))
        frame.load()
        rgba = to_rgba(frame)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.size == 0:
        raise ImageDecodeError(f"{path.name}: could not convert to RGBA")
    return rgba


def composite_on(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Flatten RGBA onto a solid colour; returns RGBA with alpha 255 (for --channels 3)."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * a + np.asarray(background, np.float32) * (1.0 - a)
    out = np.empty_like(rgba)
    out[..., :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


def _alpha_bbox(rgba: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(rgba[..., 3])
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def fit_square(rgba: np.ndarray, size: int, resample: str = "nearest") -> np.ndarray:
    """Fit a sprite into a ``size`` x ``size`` canvas, centred, padding with transparent pixels.

    If the visible content (the alpha bounding box) already fits, the sprite is cropped/padded
    without any resampling, which keeps pixel art pixel-exact (e.g. 68x68 box sprites whose
    creature is smaller than 64x64). Otherwise it is resized keeping the aspect ratio.
    """
    h, w = rgba.shape[:2]
    bbox = _alpha_bbox(rgba)
    if bbox is None:
        return np.zeros((size, size, 4), np.uint8)
    if h <= size and w <= size:
        content = rgba
    else:
        y0, y1, x0, x1 = bbox
        if y1 - y0 <= size and x1 - x0 <= size:
            content = rgba[y0:y1, x0:x1]
        else:
            content = rgba[y0:y1, x0:x1]
            ch, cw = content.shape[:2]
            scale = size / max(ch, cw)
            nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
            img = Image.fromarray(content, "RGBA")
            if resample != "nearest":
                # Resample premultiplied colour so transparent pixels don't bleed their colour.
                img = img.convert("RGBa").resize((nw, nh), RESAMPLE[resample]).convert("RGBA")
            else:
                img = img.resize((nw, nh), RESAMPLE["nearest"])
            content = np.array(img, dtype=np.uint8)
    ch, cw = content.shape[:2]
    out = np.zeros((size, size, 4), np.uint8)
    top, left = (size - ch) // 2, (size - cw) // 2
    out[top:top + ch, left:left + cw] = content
    return out


def parse_color(text: str) -> tuple[int, int, int]:
    """'#rrggbb', 'rrggbb', '#rgb' or a CSS colour name understood by PIL -> (r, g, b)."""
    from PIL import ImageColor

    t = text.strip()
    if len(t) in (3, 6) and all(c in "0123456789abcdefABCDEF" for c in t):
        t = "#" + t
    try:
        return ImageColor.getrgb(t)[:3]
    except ValueError:
        raise ValueError(f"'{text}' is not a colour; use a hex colour like '#ffffff'") from None
