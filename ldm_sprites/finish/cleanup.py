"""Pixel cleanup in index space: remove speckle without eroding lines, outlines or eyes; add an
optional 1-px outline.

A pixel with two or more neighbours (of 8) of its own colour is part of a line or an area and is
never changed: straight and diagonal 1-px lines and 1-px outlines (closed, so every pixel touches
two of its own) always are. Only two kinds of pixel can change:

* a *lone* pixel — no neighbour of its own colour. It is kept as a *feature* (a 1-px eye, pupil,
  glint) when it is inside the sprite (no transparent 4-neighbour), at least
  ``FEATURE_SURROUND`` (4) of its 8 neighbours share one colour (eyes and glints sit on a flat
  surround: 85 % of the demo set's lone pixels do) and it differs from that colour by more than
  ``contrast``. Otherwise it takes the colour most of its visible 8 neighbours have: a stray
  shade, noise in a busy area, a ragged pixel on the silhouette (every edge pixel of clean art
  belongs to its outline). With no visible neighbour at all (dust) it becomes transparent.
* one half of a *diagonal pair* — its only same-coloured neighbour is diagonal. It changes only
  inside the sprite, when 3 or 4 of its 4 neighbours share one colour within ``contrast`` of its
  own: a two-pixel smudge of a nearby shade. (A longer diagonal line has two neighbours of its
  colour and is kept.)

Ties between candidate colours go to the one nearer in colour, then to the first in up, down,
left, right, diagonal order. Everything is array shifts over the whole batch: no per-pixel
Python, the same result on every machine.
"""

from __future__ import annotations

import numpy as np

from ldm_sprites.finish.snap import TRANSPARENT

_OUTSIDE = -2  # beyond the canvas: never equal to a pixel, never visible
_N4 = ((-1, 0), (1, 0), (0, -1), (0, 1))
_N8 = _N4 + ((-1, -1), (-1, 1), (1, -1), (1, 1))
FEATURE_SURROUND = 4  # of 8 neighbours sharing one colour: the flat surround of an eye or glint


def _neighbours(idx: np.ndarray, offsets) -> list[np.ndarray]:
    n, h, w = idx.shape
    pad = np.full((n, h + 2, w + 2), _OUTSIDE, idx.dtype)
    pad[:, 1:-1, 1:-1] = idx
    return [pad[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in offsets]


def _majority(cand: np.ndarray, own: np.ndarray, palette: np.ndarray):
    """For (M, n) neighbour indices: the most frequent visible one (ties: nearest in colour to
    ``own`` (M, 3), then first), its count and its squared distance to ``own``."""
    cand = cand.astype(np.int64)
    votes = (cand[:, :, None] == cand[:, None, :]).sum(-1)
    diff = palette[np.clip(cand, 0, None)].astype(np.int64) - own[:, None, :].astype(np.int64)
    dist = (diff ** 2).sum(-1)
    score = np.where(cand >= 0, votes * (1 << 20) - dist, -(1 << 40))  # never a transparent one
    pick = np.arange(len(cand)), np.argmax(score, axis=1)
    return cand[pick], votes[pick], dist[pick]


def despeckle(idx: np.ndarray, palette: np.ndarray, contrast: float) -> np.ndarray:
    """One pass of speckle and dust removal over (N, H, W) palette indices."""
    n8 = _neighbours(idx, _N8)
    same = np.stack([nb == idx for nb in n8]) & (idx >= 0)
    lone = (idx >= 0) & ~same.any(0)
    pair = (idx >= 0) & ~same[:4].any(0) & (same[4:].sum(0) == 1)
    if not (lone.any() or pair.any()):
        return idx
    edge = np.any([nb < 0 for nb in n8[:4]], axis=0)
    out = idx.copy()
    near = contrast ** 2

    where = np.nonzero(lone)
    color, count, dist = _majority(np.stack([nb[where] for nb in n8], 1), palette[idx[where]], palette)
    feature = ~edge[where] & (count >= FEATURE_SURROUND) & (dist > near)
    change = ~feature & (color >= 0)
    out[tuple(a[change] for a in where)] = color[change]
    out[tuple(a[color < 0] for a in where)] = TRANSPARENT  # no visible neighbour: dust

    where = np.nonzero(pair & ~edge)
    color, count, dist = _majority(np.stack([nb[where] for nb in n8[:4]], 1), palette[idx[where]],
                                   palette)
    change = (count >= 3) & (dist <= near)
    out[tuple(a[change] for a in where)] = color[change]
    return out


def add_outline(idx: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Transparent pixels 4-adjacent to a sprite take its outline colour, ``colors[n]`` for
    sprite n (as Aseprite's Outline effect: the silhouette grows by one pixel)."""
    touching = np.any([nb >= 0 for nb in _neighbours(idx, _N4)], axis=0)
    fill = np.broadcast_to(np.asarray(colors, idx.dtype)[:, None, None], idx.shape)
    grow = (idx < 0) & touching
    out = idx.copy()
    out[grow] = fill[grow]
    return out
