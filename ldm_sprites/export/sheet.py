"""Sprite sheets: packing frames into one PNG and describing them in TexturePacker's
"JSON hash" format, which Phaser 3 (``load.atlas``) and PixiJS (``Assets.load``) read as-is."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

import ldm_sprites


@dataclass
class Frame:
    """One sprite on the sheet. ``trim_x/trim_y`` is where the kept rectangle sat in the source."""

    name: str
    image: np.ndarray  # the (possibly trimmed) pixels placed on the sheet
    source_w: int
    source_h: int
    trim_x: int = 0
    trim_y: int = 0
    x: int = 0
    y: int = 0


def make_frame(name: str, rgba: np.ndarray, trim: bool) -> Frame:
    """A frame, trimmed to the bounding box of visible pixels when ``trim`` is set."""
    h, w = rgba.shape[:2]
    if not trim:
        return Frame(name, rgba, w, h)
    rows = np.flatnonzero(rgba[..., 3].any(axis=1))
    cols = np.flatnonzero(rgba[..., 3].any(axis=0))
    if len(rows) == 0:  # fully transparent: keep one transparent pixel, as TexturePacker does
        return Frame(name, rgba[:1, :1], w, h)
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Frame(name, rgba[y0:y1, x0:x1], w, h, trim_x=int(x0), trim_y=int(y0))


def _next_pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def pack(frames: list[Frame], padding: int, columns: int, pot: bool) -> tuple[int, int]:
    """Place frames in rows (sets ``x``/``y``) and return the sheet size.

    Rows of ``columns`` frames, in the given order, so a sheet of equal-size frames is a plain
    grid that grid-based loaders can also slice. ``columns`` 0 picks a near-square sheet. Every
    frame has ``padding`` transparent pixels on each side so filtering never bleeds neighbours.
    """
    if columns <= 0:
        area = sum((f.image.shape[1] + padding) * (f.image.shape[0] + padding) for f in frames)
        widest = max(f.image.shape[1] + padding for f in frames)
        columns = max(1, min(len(frames), round(math.sqrt(area) / widest)))
    x = y = padding
    row_h = sheet_w = 0
    for i, frame in enumerate(frames):
        if i and i % columns == 0:
            x, y, row_h = padding, y + row_h + padding, 0
        h, w = frame.image.shape[:2]
        frame.x, frame.y = x, y
        x += w + padding
        row_h = max(row_h, h)
        sheet_w = max(sheet_w, x)
    sheet_h = y + row_h + padding
    if pot:
        sheet_w, sheet_h = _next_pow2(sheet_w), _next_pow2(sheet_h)
    return sheet_w, sheet_h


def render_sheet(frames: list[Frame], size: tuple[int, int]) -> Image.Image:
    canvas = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    for f in frames:
        h, w = f.image.shape[:2]
        canvas[f.y : f.y + h, f.x : f.x + w] = f.image
    return Image.fromarray(canvas, "RGBA")


def atlas_json(
    frames: list[Frame], size: tuple[int, int], image_name: str, animations: dict[str, list[str]]
) -> dict:
    """The TexturePacker JSON-hash document. ``animations`` is PixiJS's optional extension
    (frame-name lists for AnimatedSprite); Phaser ignores it."""
    entries = {}
    for f in frames:
        h, w = f.image.shape[:2]
        entries[f.name] = {
            "frame": {"x": f.x, "y": f.y, "w": w, "h": h},
            "rotated": False,
            "trimmed": (w, h) != (f.source_w, f.source_h),
            "spriteSourceSize": {"x": f.trim_x, "y": f.trim_y, "w": w, "h": h},
            "sourceSize": {"w": f.source_w, "h": f.source_h},
        }
    return {
        "frames": entries,
        "animations": animations,
        "meta": {
            "app": "ldm-sprites",
            "version": ldm_sprites.__version__,
            "image": image_name,
            "format": "RGBA8888",
            "size": {"w": size[0], "h": size[1]},
            "scale": "1",
        },
    }
