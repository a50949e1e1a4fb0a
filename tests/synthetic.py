"""Small synthetic RGBA sprites for the export tests (no dataset or model needed).

Each is a wobbly blob with a few flat colours, a transparent hole and a lone pixel: the cases
that trip tracers (holes, single pixels, several colours touching) in a few lines.
"""

from __future__ import annotations

import numpy as np


def synthetic_sprite(seed: int, size: int = 16, n_colors: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    angle = np.arctan2(yy - c, xx - c)
    radius = np.hypot(yy - c, xx - c)
    outline = size * (0.34 + 0.08 * np.sin(3 * angle + rng.uniform(0, 2 * np.pi)))
    body = radius < outline
    palette = rng.integers(0, 256, (n_colors, 3))
    # Horizontal bands of colour, so shapes are larger than one pixel, like real pixel art.
    bands = ((yy + rng.integers(0, size)) * n_colors // size) % n_colors
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[body, :3] = palette[bands[body]]
    rgba[body, 3] = 255
    rgba[radius < size / 10] = 0  # a hole in the middle
    rgba[1, 1] = list(palette[0]) + [255]  # a lone pixel
    return rgba


def synthetic_sprites(n: int, size: int = 16, seed: int = 0) -> list[np.ndarray]:
    return [synthetic_sprite(seed + i, size) for i in range(n)]
