"""Writing sprites for people to look at: grids and single RGBA PNGs (deterministic bytes).

(Named ``image_files``, not ``imageio``, so that it never shadows the ``imageio`` package.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from ldm_sprites.fsutil import atomic_save_image


def make_grid(sprites: np.ndarray, nrow: int | None = None, pad: int = 1, scale: int = 1,
              background: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Image.Image:
    """(N, H, W, 4) uint8 -> one RGBA image; ``scale`` is a nearest-neighbour zoom per sprite."""
    n, h, w = sprites.shape[:3]
    if scale > 1:
        sprites = sprites.repeat(scale, 1).repeat(scale, 2)
        h, w = h * scale, w * scale
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    canvas = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad, 4), np.uint8)
    canvas[:] = background
    for i in range(n):
        r, c = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y:y + h, x:x + w] = sprites[i]
    return Image.fromarray(canvas, "RGBA")


def checkerboard(image: Image.Image, cell: int = 8) -> Image.Image:
    """Composite an RGBA image on a light checkerboard, the usual way to show transparency."""
    w, h = image.size
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // cell + xx // cell) % 2)[..., None] == 0, 236, 206).astype(np.uint8)
    bg = Image.fromarray(np.dstack([board] * 3 + [np.full((h, w), 255, np.uint8)]), "RGBA")
    return Image.alpha_composite(bg, image.convert("RGBA"))


def save_png(path: str | Path, image: Image.Image) -> Path:
    # No timestamps or text chunks: the same pixels always give the same bytes.
    return atomic_save_image(path, image, optimize=False, compress_level=6)


def save_sprite(path: str | Path, rgba: np.ndarray) -> Path:
    return save_png(path, Image.fromarray(rgba, "RGBA"))
