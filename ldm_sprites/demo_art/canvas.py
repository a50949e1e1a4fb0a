"""Rasterising mirror-symmetric shapes, shading and outlines; drawing parameters from a seed."""

from __future__ import annotations

import numpy as np

from ldm_sprites.demo_art.palettes import Color, Ramp

# ---------------------------------------------------------------------------------------------
# Raster canvas: pixel centres mapped into a 32-unit design space centred on the sprite.
# ---------------------------------------------------------------------------------------------


class Canvas:
    def __init__(self, size: int, scale: float = 1.0, pad: int = 0):
        if size < 8 or size % 2:
            raise ValueError(f"size must be an even number >= 8, got {size}")
        self.size = size  # the sprite size: sets detail level and the pixel pitch
        n = size + 2 * pad  # drawn with a margin, then cropped around the creature
        px = 32.0 / size  # design units per pixel (exact: 2, 1, 0.5 for 16, 32, 64)
        centres = (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * px
        # shapes are defined at design scale; a smaller `scale` makes the creature smaller
        xs = centres / scale
        self.Y, self.X = np.meshgrid(xs, xs, indexing="ij")
        self.AX = np.abs(self.X)  # mirrored x: every shape below is left-right symmetric
        self.outline_color: Color = (0, 0, 0)
        self.rgb = np.zeros((n, n, 3), dtype=np.uint8)
        self.solid = np.zeros((n, n), dtype=bool)
        self.checker = ((np.arange(n)[:, None] + np.arange(n)[None, :]) % 2).astype(bool)

    # -- shapes (all boolean masks, all mirror-symmetric because they use AX) -------------
    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        dx = (self.AX - cx) / rx
        dy = (self.Y - cy) / ry
        return dx * dx + dy * dy <= 1.0

    def sheared_ellipse(self, cx, cy, rx, ry, shear) -> np.ndarray:
        """Ellipse tilted by a shear: its y axis leans by ``shear`` units per unit of x."""
        ddx = self.AX - cx
        dx = ddx / rx
        dy = (self.Y - cy - shear * ddx) / ry
        return dx * dx + dy * dy <= 1.0

    def rect(self, x0, x1, y0, y1) -> np.ndarray:
        return (self.AX >= x0) & (self.AX < x1) & (self.Y >= y0) & (self.Y < y1)

    def tri(self, p1, p2, p3) -> np.ndarray:
        """Filled triangle (on the mirrored half-plane, so it appears twice unless on x=0)."""
        X, Y = self.AX, self.Y

        def side(a, b):
            return (b[0] - a[0]) * (Y - a[1]) - (b[1] - a[1]) * (X - a[0])

        s1, s2, s3 = side(p1, p2), side(p2, p3), side(p3, p1)
        return ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))

    def quad(self, p1, p2, p3, p4) -> np.ndarray:
        return self.tri(p1, p2, p3) | self.tri(p1, p3, p4)

    def diamond(self, cx, cy, rx, ry) -> np.ndarray:
        return np.abs(self.AX - cx) / rx + np.abs(self.Y - cy) / ry <= 1.0

    # -- painting -------------------------------------------------------------------------
    def fill(self, mask: np.ndarray, color: Color) -> None:
        self.rgb[mask] = color
        self.solid |= mask

    def paint(self, mask: np.ndarray, ramp: Ramp, highlight: bool = True) -> None:
        """Paint ``mask`` with 3-4 tone shading lit from the top-left."""
        k = 2 if self.size >= 48 else 1
        shadow = mask & ~shift(mask, k, k)  # bottom-right rim
        if self.size >= 24:
            shadow |= mask & ~shift(mask, 2 * k, 2 * k) & self.checker  # dithered transition
        light = mask & ~shift(mask, -k, -k) & ~shadow  # top-left rim
        self.rgb[mask] = ramp[1]
        self.rgb[light] = ramp[2]
        self.rgb[shadow] = ramp[0]
        if highlight and self.size >= 16:
            inner = mask & ~shift(mask, -2 * k, -2 * k) & ~light & ~shadow
            spot = inner & shift(inner, 0, 1) & shift(inner, 1, 0) & ~shift(inner, -1, -1)
            self.rgb[spot] = ramp[3]
        self.solid |= mask

    def outline(self, color: Color) -> None:
        ring = dilate(self.solid) & ~self.solid
        self.fill(ring, color)

    def inner_line(self, mask: np.ndarray, color: Color) -> None:
        """Dark line where a part overlaps what was drawn before it (parts read as separate)."""
        ring = dilate(mask) & ~mask & self.solid
        self.rgb[ring] = color

    def crop(self) -> np.ndarray | None:
        """Outline, then cut a size x size RGBA sprite centred on the creature.

        Returns None when the creature (with outline and a 1-pixel transparent border) does not
        fit. Horizontally the crop is the canvas centre, so the silhouette stays symmetric.
        """
        rows = np.flatnonzero(self.solid.any(axis=1))
        cols = np.flatnonzero(self.solid.any(axis=0))
        size, n = self.size, self.solid.shape[0]
        if rows.size == 0:
            return np.zeros((size, size, 4), dtype=np.uint8)
        h = rows[-1] - rows[0] + 1
        w = cols[-1] - cols[0] + 1
        if h > size - 4 or w > size - 4:
            return None
        top = int(rows[0]) - (size - h) // 2
        left = (n - size) // 2
        self.outline(self.outline_color)
        solid = self.solid[top : top + size, left : left + size]
        out = np.zeros((size, size, 4), dtype=np.uint8)
        out[..., :3] = self.rgb[top : top + size, left : left + size]
        out[..., 3] = np.where(solid, 255, 0).astype(np.uint8)
        out[~solid, :3] = 0
        return out


def shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = m[y + dy, x + dx]`` (False outside)."""
    h, w = m.shape
    out = np.zeros_like(m)
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = m[ys, xs]
    return out


def dilate(m: np.ndarray) -> np.ndarray:
    d = m.copy()
    d[1:] |= m[:-1]
    d[:-1] |= m[1:]
    d[:, 1:] |= m[:, :-1]
    d[:, :-1] |= m[:, 1:]
    return d


class Params:
    """Draws shape parameters from a Generator in quarter-unit steps (exact in binary)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def u(self, lo: float, hi: float) -> float:
        return int(self.rng.integers(int(round(lo * 4)), int(round(hi * 4)) + 1)) / 4.0

    def i(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, num: int, den: int) -> bool:
        return int(self.rng.integers(0, den)) < num
