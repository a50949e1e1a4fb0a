"""One drawer per demo class: each paints a creature on a ``Canvas`` and returns its shape."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ldm_sprites.demo_art.canvas import Canvas, Params, dilate, shift
from ldm_sprites.demo_art.palettes import DEMO_SHAPES, Color, Ramp, mix_ramp


def _eyes(c: Canvas, ex: float, ey: float, w: float, h: float, color: Color,
          glint: Color | None = (255, 255, 255)) -> np.ndarray:
    eye = c.rect(ex - w / 2, ex + w / 2, ey - h / 2, ey + h / 2)
    if not eye.any():  # very small sprites: one pixel per eye at least
        eye = c.rect(ex - 1.0, ex + 1.0, ey - 1.0, ey + 1.0)
    c.fill(eye, color)
    if glint is not None and c.size >= 32:
        g = eye & ~shift(eye, -1, 0) & ~shift(eye, 0, -1)  # top-left pixel of each eye
        if c.size >= 64:
            g = dilate(g) & eye & ~shift(eye, -2, 0) & ~shift(eye, 0, -2)
        c.rgb[g] = glint
    return eye


# ---------------------------------------------------------------------------------------------
# Class drawers. Design space: x in [-16, 16], y in [-16, 16] (down), ground near y = +13.
# Each returns the shape label.
# ---------------------------------------------------------------------------------------------


def _draw_fire(c: Canvas, p: Params, pal: dict, body: Ramp) -> str:
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
        c.paint(feet, mix_ramp(body, pal["dark"], 6), highlight=False)
        _eyes(c, p.u(2.5, 4), cy - p.u(1, 3), 2, 3, dark[1])
        if p.chance(1, 2):
            c.fill(c.rect(0, 2.5, cy + 1.5, cy + 2.5), dark[1])  # grin
    return shape


def _draw_water(c: Canvas, p: Params, pal: dict, body: Ramp) -> str:
    shape = DEMO_SHAPES["water"][p.i(0, 1)]
    core, dark = pal["core"], pal["dark"]
    if shape == "droplet":
        cy, r, ry = p.u(4, 6), p.u(8.5, 10.5), p.u(7.5, 9)
        top = cy - ry
        m = c.ellipse(0, cy, r, ry)
        m |= c.tri((0, top - p.u(5, 8)), (0, top + 3), (r * 0.55, top + 2.5))
        fin_y = cy + p.u(-1, 2)
        fins = c.tri((r - 1.5, fin_y - 2.5), (r + p.u(2.5, 4), fin_y + p.u(0, 2)), (r - 1.5, fin_y + 2.5))
        c.paint(fins, mix_ramp(body, pal["dark"], 5), highlight=False)
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
        c.paint(dorsal | side, mix_ramp(body, pal["dark"], 5), highlight=False)
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
        if bub.any() and not (dilate(dilate(bub)) & c.solid).any():  # keep bubbles apart
            c.paint(bub, core)
    return shape


def _draw_grass(c: Canvas, p: Params, pal: dict, body: Ramp) -> str:
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
        edge = dilate(bumps) & ~bumps & m & (c.Y < cy + 1)
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


def _bolt(c: Canvas, x: float, y: float, s: float) -> np.ndarray:
    """A zig-zag lightning bolt whose top starts near (x, y), about 9*s long, top leaning out."""
    upper = c.quad((x + 2 * s, y), (x + 4.5 * s, y), (x + 2 * s, y + 4.5 * s), (x - 0.5 * s, y + 4.5 * s))
    lower = c.tri((x + 0.5 * s, y + 3.5 * s), (x + 4 * s, y + 3.5 * s), (x - 1 * s, y + 9 * s))
    return upper | lower


def _draw_electric(c: Canvas, p: Params, pal: dict, body: Ramp) -> str:
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


def _facets(c: Canvas, m: np.ndarray, ramp: Ramp, cy: float) -> None:
    """Flat crystal shading: light left face, mid right face, dark lower-right facet, bright rim."""
    k = 2 if c.size >= 48 else 1
    c.rgb[m] = ramp[2]
    c.rgb[m & (c.X > 0)] = ramp[1]
    c.rgb[m & (c.X > 0) & (c.Y > cy + 1 + c.X * 0.75)] = ramp[0]
    c.rgb[m & (c.X <= 0) & (c.Y > cy + 3 - c.X * 0.5)] = ramp[1]
    rim = m & ~shift(m, -k, -k) & (c.X <= 0)
    c.rgb[rim] = ramp[3]
    c.rgb[m & ~shift(m, k, k) & (c.X > 0)] = ramp[0]
    c.solid |= m


def _draw_ice(c: Canvas, p: Params, pal: dict, body: Ramp) -> str:
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
        _facets(c, shards, mix_ramp(body, deep, 8), sy)
        c.inner_line(m, pal["outline"])
        _facets(c, m, body, cy)
        ey = cy - p.u(0, 2)
    else:  # golem: octagonal torso, shoulder crystals, spiky crown, flat feet
        cy, rx, ry = p.u(3.5, 5), p.u(7.5, 9), p.u(6.5, 8)
        cut = p.u(2.5, 4)
        m = c.rect(0, rx, cy - ry, cy + ry) & (c.AX + np.abs(c.Y - cy) <= rx + ry - cut)
        shoulder = c.tri((rx - 2, cy - ry + 2), (rx + p.u(2.5, 4.5), cy - ry - p.u(3, 6)), (rx + 1.5, cy))
        feet = c.rect(rx * 0.3, rx * 0.85, cy + ry - 2, cy + ry + 2)
        _facets(c, feet, mix_ramp(body, deep, 12), cy + ry)
        _facets(c, shoulder & ~m, mix_ramp(body, deep, 8), cy - ry)
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


def _draw_ghost(c: Canvas, p: Params, pal: dict, body: Ramp) -> str:
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
    low = m & (c.Y > cy + 3) & c.checker & ~shift(m, 1, 1)
    c.rgb[low] = body[0]
    glow = m & (c.Y > cy + 4) & c.checker & shift(m, 2, 2) & shift(m, -2, -2)
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


DRAWERS: dict[str, Callable[[Canvas, Params, dict, Ramp], str]] = {
    "fire": _draw_fire,
    "water": _draw_water,
    "grass": _draw_grass,
    "electric": _draw_electric,
    "ice": _draw_ice,
    "ghost": _draw_ghost,
}
