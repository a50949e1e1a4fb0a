"""Seam score: does a tile repeat without a visible edge?

For a tile and an axis, the mean absolute colour difference between the two pixels that meet
when the tile repeats (its last and first column for x, last and first row for y) over the mean
absolute difference between neighbouring columns (rows) inside it. About 1 (or below) means the
wrap edge looks like any other place in the tile; a sprite drawn without wrap-around has a
step there, well above 1. Colours are premultiplied RGBA in 0..255 (a transparent pixel is
(0, 0, 0, 0) whatever colour it hides), averaged over the four channels.

``seam_scores`` gives one value per tile; ``seam_summary`` the set's: ``seam`` — the mean wrap
difference over the mean interior difference of the whole set (robust to flat tiles, whose own
ratio is 0/0) — the median of the per-tile ratios, and the share of tiles above 1.5.
"""

from __future__ import annotations

import numpy as np

from ldm_sprites.data.tensors import premultiplied

EPS = 1e-6


def _premultiplied(tiles: np.ndarray) -> np.ndarray:
    t = np.asarray(tiles)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[-1] not in (3, 4):
        raise ValueError(f"seam score needs (N, H, W, 3|4) tiles, got {t.shape}")
    if t.shape[-1] == 3:
        return t.astype(np.float64)
    return premultiplied(t)


def _differences(tiles: np.ndarray, axes: str) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: (sum of wrap-edge differences, number of wrap pairs) and the same inside,
    as (N, 2) arrays [sum, count]."""
    x = _premultiplied(tiles)
    n = x.shape[0]
    wrap, inner = np.zeros((n, 2)), np.zeros((n, 2))
    for axis, dim in (("x", 2), ("y", 1)):
        if axis not in axes or x.shape[dim] < 2:
            continue
        first, last = np.take(x, 0, axis=dim), np.take(x, -1, axis=dim)
        edge = np.abs(last - first).mean(-1)               # (N, other side)
        steps = np.abs(np.diff(x, axis=dim)).mean(-1)      # (N, ..., ...)
        wrap += np.stack([edge.reshape(n, -1).sum(1), np.full(n, edge[0].size)], 1)
        inner += np.stack([steps.reshape(n, -1).sum(1), np.full(n, steps[0].size)], 1)
    return wrap, inner


def seam_scores(tiles: np.ndarray, axes: str = "xy") -> np.ndarray:
    """(N,) seam score of each (H, W, C) uint8 tile along ``axes`` ('xy', 'x' or 'y'); a flat
    tile (no difference anywhere) scores 1."""
    wrap, inner = _differences(tiles, axes)
    w = wrap[:, 0] / np.maximum(wrap[:, 1], 1)
    i = inner[:, 0] / np.maximum(inner[:, 1], 1)
    return (w + EPS) / (i + EPS)


def seam_summary(tiles: np.ndarray, axes: str = "xy") -> dict:
    """The set's seam score (mean wrap difference / mean interior difference), the median and
    mean per-tile score and the share of tiles above 1.5, along ``axes``."""
    wrap, inner = _differences(tiles, axes)
    w = wrap[:, 0].sum() / max(wrap[:, 1].sum(), 1)
    i = inner[:, 0].sum() / max(inner[:, 1].sum(), 1)
    per = seam_scores(tiles, axes)
    return {"seam": round(float((w + EPS) / (i + EPS)), 4), "axes": axes,
            "median": round(float(np.median(per)), 4), "mean": round(float(per.mean()), 4),
            "above_1_5": round(float((per > 1.5).mean()), 4), "n": int(len(per)),
            "wrap_difference": round(float(w), 3), "interior_difference": round(float(i), 3)}
