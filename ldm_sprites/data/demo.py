"""A procedural pixel-art sprite set, deterministic by seed, for tests and the quickstart.

Six elemental classes (``DEMO_CLASSES``) of tiny front-facing creatures, each with its own
palette *and* silhouette so that a small class-conditional model can learn to tell them apart:

* ``fire``     red/orange flame creatures with spiky flame tops and a yellow core
* ``water``    blue droplet blobs and round fish with fins, plus floating bubbles
* ``grass``    green bulbs and bushes with a leafy sprout on top and brown feet/stems
* ``electric`` yellow critters and orbs with zig-zag ears/bolts, black tips, red cheeks
* ``ice``      pale cyan/white angular crystals with spikes and faceted shading
* ``ghost``    purple sheets and wisps with a wavy dithered bottom and big eyes

Every sprite is mirror-symmetric in its silhouette (the alpha mask is exactly symmetric; the
shading is lit from the top-left so colours are not), has a dark 1-pixel outline, 3-4 tone
shading, hard alpha (0 or 255) and a transparent border. Within a class, sprites vary in body
shape (the ``shape`` label of :func:`write_demo_set`), proportions, size, palette (a shift
between two ramps of the class palette) and optional accessories.

Sizes: shapes are defined in a 32-pixel design space and rasterised *directly* at the requested
size (pixel centres are mapped into the design space), so 16, 32 and 64 (and any even size >= 16)
are all drawn natively. At 64 the outline stays 1 pixel and curves are smoother; at 16 small
details (glints, dithering) are dropped. Each creature is drawn on a canvas with a margin and
cropped centred on it; one that would not fit (outline plus a 1-pixel transparent border) is
redrawn slightly smaller, so nothing is ever clipped.

Determinism: each sprite gets its own ``numpy.random.Generator(PCG64)`` seeded from
``(seed, crc32(class name), index)``; parameters are drawn as integers (quarter-pixel steps) and
rasterised with IEEE-exact arithmetic only (+, -, *, /, comparisons, no transcendental
functions), so the same seed gives the same pixels on every machine. Sprite ``i`` of a class does
not depend on ``n_per_class`` or on which other classes are requested.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import zlib
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

DEMO_CLASSES: tuple[str, ...] = ("fire", "water", "grass", "electric", "ice", "ghost")

# Body shapes drawn for each class: the secondary ``shape`` label in metadata.csv.
DEMO_SHAPES: dict[str, tuple[str, ...]] = {
    "fire": ("flame", "imp"),
    "water": ("droplet", "fish"),
    "grass": ("bulb", "bush"),
    "electric": ("critter", "orb"),
    "ice": ("crystal", "golem"),
    "ghost": ("sheet", "wisp"),
}

SUPPORTED_SIZES = (16, 32, 64)

Color = tuple[int, int, int]
Ramp = tuple[Color, Color, Color, Color]  # shadow, mid, light, highlight

# ---------------------------------------------------------------------------------------------
# Palettes. Each class body colour is interpolated between two ramps (the "hue shift").
# ---------------------------------------------------------------------------------------------

_PALETTES: dict[str, dict[str, object]] = {
    "fire": {
        "outline": (74, 16, 22),
        "body": (
            ((168, 28, 34), (214, 52, 38), (240, 102, 52), (255, 170, 110)),
            ((186, 62, 24), (232, 108, 30), (248, 150, 52), (255, 206, 130)),
        ),
        "core": ((236, 150, 36), (252, 206, 64), (255, 236, 140), (255, 252, 220)),
        "dark": ((60, 14, 18), (38, 10, 14), (38, 10, 14), (38, 10, 14)),
    },
    "water": {
        "outline": (16, 28, 78),
        "body": (
            ((30, 66, 168), (48, 106, 220), (96, 164, 244), (196, 230, 255)),
            ((20, 92, 150), (36, 140, 204), (86, 194, 236), (200, 244, 255)),
        ),
        "core": ((70, 140, 220), (130, 196, 246), (190, 230, 255), (240, 250, 255)),
        "dark": ((14, 24, 60), (12, 20, 50), (12, 20, 50), (12, 20, 50)),
    },
    "grass": {
        "outline": (20, 48, 22),
        "body": (
            ((40, 118, 44), (70, 168, 62), (128, 208, 90), (196, 240, 156)),
            ((66, 128, 30), (108, 178, 48), (160, 218, 88), (218, 248, 168)),
        ),
        "core": ((30, 96, 46), (46, 138, 62), (84, 180, 84), (150, 224, 140)),
        "brown": ((88, 52, 26), (128, 82, 40), (168, 118, 60), (200, 158, 98)),
        "dark": ((18, 36, 18), (16, 28, 16), (16, 28, 16), (16, 28, 16)),
    },
    "electric": {
        "outline": (58, 44, 10),
        "body": (
            ((204, 148, 20), (244, 204, 40), (255, 232, 100), (255, 250, 200)),
            ((214, 168, 14), (250, 220, 32), (255, 244, 118), (255, 255, 222)),
        ),
        "core": ((230, 190, 60), (255, 236, 140), (255, 248, 200), (255, 255, 240)),
        "black": ((26, 22, 20), (46, 40, 36), (72, 64, 56), (110, 100, 90)),
        "cheek": ((186, 40, 40), (232, 72, 60), (248, 120, 100), (255, 180, 160)),
        "dark": ((30, 24, 10), (28, 22, 12), (28, 22, 12), (28, 22, 12)),
    },
    "ice": {
        "outline": (36, 66, 112),
        "body": (
            ((118, 178, 220), (168, 220, 244), (214, 244, 255), (255, 255, 255)),
            ((136, 166, 230), (188, 208, 250), (224, 234, 255), (255, 255, 255)),
        ),
        "core": ((80, 140, 204), (120, 186, 234), (176, 226, 252), (236, 250, 255)),
        "dark": ((24, 50, 96), (20, 40, 80), (20, 40, 80), (20, 40, 80)),
    },
    "ghost": {
        "outline": (30, 10, 46),
        "body": (
            ((88, 48, 138), (128, 78, 188), (168, 120, 220), (214, 180, 246)),
            ((70, 50, 120), (108, 80, 168), (150, 120, 210), (200, 180, 240)),
        ),
        "core": ((150, 110, 200), (186, 150, 230), (212, 186, 246), (236, 220, 255)),
        "eye": ((200, 200, 220), (246, 246, 255), (255, 255, 255), (255, 255, 255)),
        "dark": ((24, 8, 36), (20, 6, 30), (20, 6, 30), (20, 6, 30)),
    },
}


def _mix_ramp(a: Ramp, b: Ramp, t: int) -> Ramp:
    """Integer interpolation between two ramps, ``t`` in 0..16."""
    return tuple(  # type: ignore[return-value]
        tuple(int(ca + ((cb - ca) * t) // 16) for ca, cb in zip(col_a, col_b))
        for col_a, col_b in zip(a, b)
    )


def _darker(c: Color, num: int = 3, den: int = 5) -> Color:
    return tuple(int(v * num // den) for v in c)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Raster canvas: pixel centres mapped into a 32-unit design space centred on the sprite.
# ---------------------------------------------------------------------------------------------


class _Canvas:
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
        shadow = mask & ~_shift(mask, k, k)  # bottom-right rim
        if self.size >= 24:
            shadow |= mask & ~_shift(mask, 2 * k, 2 * k) & self.checker  # dithered transition
        light = mask & ~_shift(mask, -k, -k) & ~shadow  # top-left rim
        self.rgb[mask] = ramp[1]
        self.rgb[light] = ramp[2]
        self.rgb[shadow] = ramp[0]
        if highlight and self.size >= 16:
            inner = mask & ~_shift(mask, -2 * k, -2 * k) & ~light & ~shadow
            spot = inner & _shift(inner, 0, 1) & _shift(inner, 1, 0) & ~_shift(inner, -1, -1)
            self.rgb[spot] = ramp[3]
        self.solid |= mask

    def outline(self, color: Color) -> None:
        ring = _dilate(self.solid) & ~self.solid
        self.fill(ring, color)

    def inner_line(self, mask: np.ndarray, color: Color) -> None:
        """Dark line where a part overlaps what was drawn before it (parts read as separate)."""
        ring = _dilate(mask) & ~mask & self.solid
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


def _shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = m[y + dy, x + dx]`` (False outside)."""
    h, w = m.shape
    out = np.zeros_like(m)
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = m[ys, xs]
    return out


def _dilate(m: np.ndarray) -> np.ndarray:
    d = m.copy()
    d[1:] |= m[:-1]
    d[:-1] |= m[1:]
    d[:, 1:] |= m[:, :-1]
    d[:, :-1] |= m[:, 1:]
    return d


class _Params:
    """Draws shape parameters from a Generator in quarter-unit steps (exact in binary)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def u(self, lo: float, hi: float) -> float:
        return int(self.rng.integers(int(round(lo * 4)), int(round(hi * 4)) + 1)) / 4.0

    def i(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, num: int, den: int) -> bool:
        return int(self.rng.integers(0, den)) < num


def _eyes(c: _Canvas, ex: float, ey: float, w: float, h: float, color: Color,
          glint: Color | None = (255, 255, 255)) -> np.ndarray:
    eye = c.rect(ex - w / 2, ex + w / 2, ey - h / 2, ey + h / 2)
    if not eye.any():  # very small sprites: one pixel per eye at least
        eye = c.rect(ex - 1.0, ex + 1.0, ey - 1.0, ey + 1.0)
    c.fill(eye, color)
    if glint is not None and c.size >= 32:
        g = eye & ~_shift(eye, -1, 0) & ~_shift(eye, 0, -1)  # top-left pixel of each eye
        if c.size >= 64:
            g = _dilate(g) & eye & ~_shift(eye, -2, 0) & ~_shift(eye, 0, -2)
        c.rgb[g] = glint
    return eye


# ---------------------------------------------------------------------------------------------
# Class drawers. Design space: x in [-16, 16], y in [-16, 16] (down), ground near y = +13.
# Each returns the shape label.
# ---------------------------------------------------------------------------------------------


def _draw_fire(c: _Canvas, p: _Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["fire"][p.i(0, 1)]
    core, dark = pal["core"], pal["dark"]
    if shape == "flame":
        cy, rx, ry = p.u(4, 6), p.u(8, 10.5), p.u(7, 8.5)
        top = cy - ry
        m = c.ellipse(0, cy, rx, ry)
        h0 = p.u(8, 11)
        m |= c.tri((0, top - h0), (0, top + 4), (p.u(4, 5.5), top + 4))
        sx = p.u(4.5, 6.5)
        m |= c.tri((sx + p.u(0, 1.5), top - p.u(4, 7)), (sx - 3.5, top + 4), (sx + 3, top + 5))
        if p.chance(1, 2):  # outer tongues leaning out
            ox = rx - p.u(0.5, 2)
            m |= c.tri((ox + p.u(1.5, 3), cy - ry + p.u(-1, 1.5)), (ox - 3, cy - 1), (ox + 0.5, cy + 2))
        c.paint(m, body)
        coremask = c.ellipse(0, cy + 2, rx * 0.55, ry * 0.55)
        coremask |= c.tri((0, cy - ry * 0.6), (0, cy + 1), (rx * 0.4, cy + 1))
        c.paint(coremask & m, core)
        ey = cy - p.u(0.5, 2)
        _eyes(c, p.u(2.5, 3.5), ey, 2, p.u(3, 4), dark[1])
        if p.chance(1, 2):  # angry brows
            c.fill(c.tri((1.25, ey - 2.5), (4.75, ey - 3.75), (4.75, ey - 2.75)), dark[1])
    else:  # imp: round body, horns, a small flame crest, feet
        cy, r, ry = p.u(3, 5), p.u(8.5, 10.5), p.u(8, 9.5)
        top = cy - ry
        m = c.ellipse(0, cy, r, ry)
        hx = p.u(4, 6)
        m |= c.tri((hx + p.u(1.5, 3.5), top - p.u(3.5, 6)), (hx - 2.5, top + 3), (hx + 2.5, top + 4))
        m |= c.tri((0, top - p.u(4, 7)), (0, top + 3), (2.25, top + 3))
        c.paint(m, body)
        belly = c.ellipse(0, cy + ry * 0.4, r * 0.55, ry * 0.45) & m
        c.paint(belly, core)
        fy = cy + ry - 1
        feet = c.ellipse(r * 0.5, fy + 1.5, 2.75, 1.75)
        c.inner_line(feet, pal["outline"])
        c.paint(feet, _mix_ramp(body, pal["dark"], 6), highlight=False)
        _eyes(c, p.u(2.5, 4), cy - p.u(1, 3), 2, 3, dark[1])
        if p.chance(1, 2):
            c.fill(c.rect(0, 2.5, cy + 1.5, cy + 2.5), dark[1])  # grin
    return shape


def _draw_water(c: _Canvas, p: _Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["water"][p.i(0, 1)]
    core, dark = pal["core"], pal["dark"]
    if shape == "droplet":
        cy, r, ry = p.u(4, 6), p.u(8.5, 10.5), p.u(7.5, 9)
        top = cy - ry
        m = c.ellipse(0, cy, r, ry)
        m |= c.tri((0, top - p.u(5, 8)), (0, top + 3), (r * 0.55, top + 2.5))
        fin_y = cy + p.u(-1, 2)
        fins = c.tri((r - 1.5, fin_y - 2.5), (r + p.u(2.5, 4), fin_y + p.u(0, 2)), (r - 1.5, fin_y + 2.5))
        c.paint(fins, _mix_ramp(body, pal["dark"], 5), highlight=False)
        c.paint(m, body)
        c.inner_line(m, pal["outline"])
        belly = c.ellipse(0, cy + ry * 0.45, r * 0.5, ry * 0.35) & m
        c.paint(belly, core, highlight=False)
        ey = cy - p.u(0, 2)
        ex = p.u(2.5, 4)
    else:  # fish: wide round body, dorsal fin, side fins, "o" mouth
        cy, r, ry = p.u(2, 4), p.u(10.5, 12), p.u(6.5, 8)
        top = cy - ry
        m = c.ellipse(0, cy, r, ry)
        dorsal = c.tri((0, top - p.u(4, 6.5)), (0, top + 2), (p.u(3, 5), top + 2))
        side = c.tri((r - 2, cy), (r + p.u(2, 3.5), cy + p.u(2.5, 4.5)), (r - 3.5, cy + 3))
        c.paint(dorsal | side, _mix_ramp(body, pal["dark"], 5), highlight=False)
        c.paint(m, body)
        c.inner_line(m, pal["outline"])
        belly = c.ellipse(0, cy + ry * 0.55, r * 0.6, ry * 0.35) & m
        c.paint(belly, core, highlight=False)
        c.fill(c.ellipse(0, cy + 3, 1.25, 1.25), dark[1])
        ey = cy - p.u(0.5, 2)
        ex = p.u(4, 5.5)
    _eyes(c, ex, ey, 2, 3, dark[1])
    # bubbles around the top corners (mirrored pairs)
    for _ in range(p.i(0, 2)):
        br = p.u(1.25, 2.25)
        bx, by = p.u(10.5, 13.5 - br), p.u(-13 + br, -6)
        bub = c.ellipse(bx, by, br, br)
        if bub.any() and not (_dilate(_dilate(bub)) & c.solid).any():  # keep bubbles apart
            c.paint(bub, core)
    return shape


def _draw_grass(c: _Canvas, p: _Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["grass"][p.i(0, 1)]
    leaf, brown, dark = pal["core"], pal["brown"], pal["dark"]
    if shape == "bulb":
        cy, r, ry = p.u(5, 6.5), p.u(8.5, 10.5), p.u(7, 8.5)
        top = cy - ry
        m = c.ellipse(0, cy, r, ry)
        feet = c.ellipse(r * 0.5, cy + ry, 2.5, 1.75)
        c.paint(feet, brown, highlight=False)
        c.paint(m, body)
        c.inner_line(m, pal["outline"])
        if p.chance(2, 3):  # spots
            c.paint(c.ellipse(r * 0.55, cy + 1.5, 1.25, 1.25) & m, leaf, highlight=False)
        flower = False
    else:  # bush: bumpy cluster of round leaves on a short trunk, berries
        cy, r = p.u(4.5, 6), p.u(9.5, 11.5)
        m = c.ellipse(0, cy + 1, r, 6.5)
        m |= c.ellipse(r * 0.55, cy - 2.5, r * 0.45, 4.5)
        m |= c.ellipse(0, cy - 4, r * 0.42, 4.5)
        top = cy - 8.5
        trunk = c.rect(0, 2, cy + 6, cy + 9)
        c.paint(trunk, brown, highlight=False)
        c.paint(m, body)
        c.inner_line(m, pal["outline"])
        # inner leaf clumps so the bumps read as separate leaves
        bumps = c.ellipse(r * 0.55, cy - 2.5, r * 0.45, 4.5) | c.ellipse(0, cy - 4, r * 0.42, 4.5)
        edge = _dilate(bumps) & ~bumps & m & (c.Y < cy + 1)
        c.rgb[edge] = body[0]
        if p.chance(2, 3):  # berries
            berry = c.ellipse(r * 0.7, cy + 3, 1.25, 1.25) | c.ellipse(r * 0.3, cy - 3, 1.25, 1.25)
            c.fill(berry & m, (214, 48, 64))
        flower = p.chance(1, 2)
    if flower:  # a small pink flower on top
        fy = top - 0.5
        petals = c.ellipse(0, fy - 2, 1.5, 1.75) | c.ellipse(2, fy, 1.75, 1.5)
        c.paint(petals, ((208, 90, 150), (244, 140, 190), (255, 190, 220), (255, 235, 245)), False)
        c.fill(c.ellipse(0, fy, 1, 1), (255, 214, 60))
    else:  # sprout: stem + two leaves angled up
        sh = p.u(3, 5)
        stem = c.rect(0, 0.75 if c.size >= 32 else 1.1, top - sh, top + 1.5)
        c.fill(stem, brown[1])
        lr = p.u(3.5, 5)
        ly = top - sh + p.u(0, 1)
        leaves = c.sheared_ellipse(lr * 0.85, ly - 0.5, lr, p.u(1.5, 2.25), -p.u(0.5, 0.8))
        c.paint(leaves, leaf)
        c.inner_line(leaves, pal["outline"])
    _eyes(c, p.u(2.5, 4), cy - p.u(0, 2), 2, 3, dark[1])
    return shape


def _bolt(c: _Canvas, x: float, y: float, s: float) -> np.ndarray:
    """A zig-zag lightning bolt whose top starts near (x, y), about 9*s long, top leaning out."""
    upper = c.quad((x + 2 * s, y), (x + 4.5 * s, y), (x + 2 * s, y + 4.5 * s), (x - 0.5 * s, y + 4.5 * s))
    lower = c.tri((x + 0.5 * s, y + 3.5 * s), (x + 4 * s, y + 3.5 * s), (x - 1 * s, y + 9 * s))
    return upper | lower


def _draw_electric(c: _Canvas, p: _Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["electric"][p.i(0, 1)]
    black, cheek, dark = pal["black"], pal["cheek"], pal["dark"]
    if shape == "critter":
        cy, r, ry = p.u(4.5, 6), p.u(8.5, 10), p.u(7.5, 8.5)
        top = cy - ry
        m = c.ellipse(0, cy, r, ry)
        ex, eh = p.u(5, 7.5), p.u(7, 10)
        ear = c.tri((ex + p.u(0.5, 2.5), top - eh), (ex - 3, top + 3), (ex + 2.5, top + 3))
        if p.chance(1, 2):  # zig-zag tail bolts on both sides
            bolt = _bolt(c, r - 2.5, cy - 6, 0.9)
            c.paint(bolt & ~m, body, highlight=False)
        c.paint(m | ear, body)
        tips = ear & (c.Y < top - eh * 0.45)
        c.paint(tips, black, highlight=False)
        ey = cy - p.u(0.5, 2)
    else:  # orb: round sphere with a crown of bolts and a black band
        cy, r = p.u(3, 5), p.u(8.5, 10)
        top = cy - r
        m = c.ellipse(0, cy, r, r)
        bs = p.u(0.8, 1.0)
        crown = _bolt(c, r * 0.3 + p.u(0, 1.5), top - 9 * bs + 2, bs) & (c.Y < top + 2.5)
        c.paint(crown, body, highlight=False)
        c.paint(m, body)
        c.inner_line(m, pal["outline"])
        if p.chance(1, 2):
            band = c.rect(0, 16, cy + r * 0.45, cy + r * 0.45 + 1.75) & m
            c.paint(band, black, highlight=False)
        ey = cy - p.u(1, 2.5)
    ex = p.u(3, 4)
    _eyes(c, ex, ey, 2, 3, black[0])
    ck = c.ellipse(ex + 2.75, ey + 3, 1.5, 1.25) & c.solid
    c.paint(ck, cheek, highlight=False)
    return shape


def _facets(c: _Canvas, m: np.ndarray, ramp: Ramp, cy: float) -> None:
    """Flat crystal shading: light left face, mid right face, dark lower-right facet, bright rim."""
    k = 2 if c.size >= 48 else 1
    c.rgb[m] = ramp[2]
    c.rgb[m & (c.X > 0)] = ramp[1]
    c.rgb[m & (c.X > 0) & (c.Y > cy + 1 + c.X * 0.75)] = ramp[0]
    c.rgb[m & (c.X <= 0) & (c.Y > cy + 3 - c.X * 0.5)] = ramp[1]
    rim = m & ~_shift(m, -k, -k) & (c.X <= 0)
    c.rgb[rim] = ramp[3]
    c.rgb[m & ~_shift(m, k, k) & (c.X > 0)] = ramp[0]
    c.solid |= m


def _draw_ice(c: _Canvas, p: _Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["ice"][p.i(0, 1)]
    deep, dark = pal["core"], pal["dark"]
    if shape == "crystal":
        # a tall hexagonal gem with a pointed top, flanked by leaning shards
        cy, w = p.u(2, 4), p.u(6.5, 8.5)
        top, bottom = cy - p.u(11, 13.5), cy + p.u(8.5, 10)
        slope = (cy - 3 - top) / w
        m = (c.AX <= w) & (c.Y >= top + c.AX * slope) & (c.Y <= bottom - c.AX * 0.5)
        sx, sy = w + p.u(1.5, 2.5), cy + p.u(0, 3)
        sh = p.u(6, 9)
        shards = c.quad((sx - 2.5, sy + 4), (sx - 2.5, sy - 1), (sx + 1.5, sy - sh), (sx + 2.5, sy + 2))
        shards &= ~m
        _facets(c, shards, _mix_ramp(body, deep, 8), sy)
        c.inner_line(m, pal["outline"])
        _facets(c, m, body, cy)
        ey = cy - p.u(0, 2)
    else:  # golem: octagonal torso, shoulder crystals, spiky crown, flat feet
        cy, rx, ry = p.u(3.5, 5), p.u(7.5, 9), p.u(6.5, 8)
        cut = p.u(2.5, 4)
        m = c.rect(0, rx, cy - ry, cy + ry) & (c.AX + np.abs(c.Y - cy) <= rx + ry - cut)
        shoulder = c.tri((rx - 2, cy - ry + 2), (rx + p.u(2.5, 4.5), cy - ry - p.u(3, 6)), (rx + 1.5, cy))
        feet = c.rect(rx * 0.3, rx * 0.85, cy + ry - 2, cy + ry + 2)
        _facets(c, feet, _mix_ramp(body, deep, 12), cy + ry)
        _facets(c, shoulder & ~m, _mix_ramp(body, deep, 8), cy - ry)
        top = cy - ry
        crown = c.tri((0, top - p.u(4, 7)), (0, top + 1), (2.5, top + 1))
        crown |= c.tri((p.u(3, 4.5), top - p.u(2, 4.5)), (1.5, top + 1), (5, top + 1))
        c.inner_line(m | crown, pal["outline"])
        _facets(c, m | crown, body, cy)
        ey = cy - p.u(1, 2.5)
    _eyes(c, p.u(2.25, 3.5), ey, 2, 3, dark[1])
    if p.chance(1, 2):
        c.fill(c.rect(0, 1.5, ey + 3.5, ey + 4.5), dark[1])
    return shape


def _draw_ghost(c: _Canvas, p: _Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["ghost"][p.i(0, 1)]
    eye_ramp, dark = pal["eye"], pal["dark"]
    if shape == "sheet":
        cy, r = p.u(-2, 0), p.u(8.5, 10.5)
        bottom = p.u(10.5, 13)
        m = c.ellipse(0, cy, r, r) & (c.Y <= cy)
        m |= c.rect(0, r, cy, bottom)
        # wavy bottom: scallops (triangle wave) along |x|
        per = p.u(3.5, 5)
        ph = np.mod(c.AX + p.u(0, 1.5), per)
        wave = np.abs(ph - per / 2) * (3.0 / per)
        m &= c.Y <= bottom - wave
        if p.chance(1, 2):  # little arms
            m |= c.ellipse(r + 0.5, cy + 4, 2, 1.5)
        ey, ex = cy - p.u(0, 1.5), p.u(3, 4.5)
    else:  # wisp: round head with a tapered wavy tail
        cy, r = p.u(-3, -1), p.u(8.5, 10)
        m = c.ellipse(0, cy, r, r)
        tail_end = p.u(11, 13.5)
        m |= c.tri((0, tail_end), (r - 0.5, cy + 1), (0, cy + 1))
        m |= c.tri((p.u(3, 5), tail_end - 1), (r - 3, cy + 4), (r * 0.2, cy + 4))
        ey, ex = cy - p.u(-0.5, 1), p.u(3, 4.5)
    c.paint(m, body)
    # translucent look: dithered lower part
    low = m & (c.Y > cy + 3) & c.checker & ~_shift(m, 1, 1)
    c.rgb[low] = body[0]
    glow = m & (c.Y > cy + 4) & c.checker & _shift(m, 2, 2) & _shift(m, -2, -2)
    if c.size >= 24:
        c.rgb[glow] = body[2]
    # big eyes: white ovals with dark pupils looking down
    ew, eh = p.u(3, 4), p.u(4, 5.5)
    eye = c.ellipse(ex, ey, ew / 2 + 0.25, eh / 2)
    c.fill(eye, eye_ramp[1])
    pupil = c.rect(ex - 1, ex + 1, ey, ey + eh / 2) & eye
    if c.size < 32:
        pupil = eye & (c.Y >= ey)
    c.fill(pupil, dark[1])
    if p.chance(1, 2):
        c.fill(c.ellipse(0, ey + eh / 2 + 2.5, 1.5, 1.25), dark[1])  # "o" mouth
    return shape


_DRAWERS: dict[str, Callable[[_Canvas, _Params, dict, Ramp], str]] = {
    "fire": _draw_fire,
    "water": _draw_water,
    "grass": _draw_grass,
    "electric": _draw_electric,
    "ice": _draw_ice,
    "ghost": _draw_ghost,
}


def _render(class_name: str, rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    if class_name not in _DRAWERS:
        raise ValueError(f"unknown demo class {class_name!r}; choose from {', '.join(DEMO_CLASSES)}")
    p = _Params(rng)
    pal = _PALETTES[class_name]
    a, b = pal["body"]  # type: ignore[misc]
    body = _mix_ramp(a, b, p.i(0, 16))
    jitter = p.i(-10, 10)
    body = tuple(tuple(min(255, max(0, v + jitter)) for v in col) for col in body)  # type: ignore
    scale = p.u(0.8, 1.0)
    state = rng.bit_generator.state
    while True:  # shrink until the creature fits (re-drawing the same creature)
        c = _Canvas(size, scale=scale, pad=size // 4)
        c.outline_color = pal["outline"]  # type: ignore[assignment]
        shape = _DRAWERS[class_name](c, p, pal, body)
        img = c.crop()
        if img is not None or scale <= 0.25:
            return (img if img is not None else np.zeros((size, size, 4), np.uint8)), shape
        scale -= 0.0625
        rng.bit_generator.state = state


def render_sprite(class_name: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """Draw one sprite of ``class_name``: uint8 RGBA array (size, size, 4), hard alpha."""
    return _render(class_name, rng, size)[0]


def _sprite_rng(seed: int, class_name: str, index: int) -> np.random.Generator:
    key = zlib.crc32(class_name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), key, int(index)])))


def _iter_sprites(n_per_class: int, size: int, seed: int, classes: Sequence[str]):
    for name in classes:
        for i in range(n_per_class):
            img, shape = _render(name, _sprite_rng(seed, name, i), size)
            yield name, i, img, shape


def _check_args(n_per_class: int, size: int, classes: Sequence[str]) -> None:
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number >= 16 (16, 32 or 64), got {size}")
    unknown = [c for c in classes if c not in _DRAWERS]
    if unknown:
        raise ValueError(f"unknown demo class {unknown[0]!r}; choose from {', '.join(DEMO_CLASSES)}")


def make_demo_sprites(
    n_per_class: int, size: int = 32, seed: int = 0, classes: Iterable[str] = DEMO_CLASSES
) -> tuple[np.ndarray, list[str]]:
    """Render ``n_per_class`` sprites of each class, class after class.

    Returns ``(images, labels)``: a uint8 array (N, size, size, 4) and the class name of each.
    """
    classes = tuple(classes)
    _check_args(n_per_class, size, classes)
    out = np.zeros((n_per_class * len(classes), size, size, 4), dtype=np.uint8)
    labels: list[str] = []
    for k, (name, _i, img, _shape) in enumerate(_iter_sprites(n_per_class, size, seed, classes)):
        out[k] = img
        labels.append(name)
    return out, labels


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    # no text chunks, no timestamps: PIL writes IHDR/IDAT/IEND only for a plain RGBA image
    Image.fromarray(img, "RGBA").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_demo_set(
    out_dir: str | Path,
    n_per_class: int = 250,
    size: int = 32,
    seed: int = 0,
    classes: Iterable[str] = DEMO_CLASSES,
    progress: bool = False,
) -> Path:
    """Write the demo set in the Hugging Face imagefolder layout and return ``out_dir``.

    ``out_dir/images/<class>-<index:05d>.png`` (RGBA) and ``out_dir/metadata.csv`` with columns
    ``file_name,type,shape``. The same seed gives the same bytes (PNG compression is fixed;
    bytes can only differ across zlib builds, pixels never). Demo PNGs left over from an earlier,
    larger run in ``images/`` are removed so the folder matches metadata.csv; other files are
    left alone. metadata.csv is written last (atomically), so it only exists for a complete set.
    """
    from ldm_sprites.fsutil import atomic_write_text, ensure_dir

    classes = tuple(classes)
    _check_args(n_per_class, size, classes)
    out = ensure_dir(out_dir)
    images = ensure_dir(out / "images")
    meta = out / "metadata.csv"
    meta.unlink(missing_ok=True)

    total = n_per_class * len(classes)
    bar = None
    if progress and total:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="demo sprites", unit="img", file=sys.stderr,
                   disable=not sys.stderr.isatty(), leave=False)
    written: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    try:
        for name, i, img, shape in _iter_sprites(n_per_class, size, seed, classes):
            fname = f"{name}-{i:05d}.png"
            (images / fname).write_bytes(_png_bytes(img))
            written.add(fname)
            rows.append((f"images/{fname}", name, shape))
            if bar is not None:
                bar.update(1)
    except OSError as exc:
        from ldm_sprites.errors import UserError
        from ldm_sprites.fsutil import describe_os_error

        raise UserError(describe_os_error(images, exc)) from None
    finally:
        if bar is not None:
            bar.close()

    pattern = re.compile(r"^(%s)-\d{5}\.png$" % "|".join(map(re.escape, DEMO_CLASSES)))
    for stale in images.iterdir():
        if pattern.match(stale.name) and stale.name not in written:
            stale.unlink()

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("file_name", "type", "shape"))
    writer.writerows(rows)
    atomic_write_text(meta, buf.getvalue())
    return out
