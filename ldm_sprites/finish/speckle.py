"""How speckled a sprite is: the share of its visible pixels that stand alone.

A visible pixel is *isolated* when none of its 4-neighbours is within ``TOL`` levels on every
RGBA channel (transparent pixels count as (0, 0, 0, 0)). Speckle and noise score high; flat
areas, outlines and 1-px lines score low; clean pixel art still has some (eyes, glints, dithering).
The same measure is ``evaluation.cleanliness``'s ``isolated`` statistic, and finishing uses it to
leave sprites that are already as clean as the training data alone.
"""

from __future__ import annotations

import numpy as np

TOL = 16  # levels per channel below which two colours read as the same on screen


def isolated_mask(rgba: np.ndarray, tol: int = TOL) -> np.ndarray:
    """(H, W) bool: visible pixels with no 4-neighbour within ``tol`` levels on all channels."""
    x = rgba.astype(np.int16)
    x[x[..., 3] == 0] = 0
    h, w = x.shape[:2]
    pad = np.full((h + 2, w + 2, 4), 10_000, np.int16)  # outside the canvas never matches
    pad[1:-1, 1:-1] = x
    similar = np.zeros((h, w), bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = pad[dy:dy + h, dx:dx + w]
        similar |= (np.abs(nb - x) <= tol).all(axis=-1)
    return (rgba[..., 3] > 0) & ~similar


def isolated_shares(sprites: np.ndarray, tol: int = TOL) -> np.ndarray:
    """(N,) float: each (H, W, 4) uint8 sprite's isolated share of its visible pixels (0: none
    visible)."""
    out = np.zeros(len(sprites))
    for i, s in enumerate(sprites):
        visible = int((s[..., 3] > 0).sum())
        if visible:
            out[i] = isolated_mask(s, tol).sum() / visible
    return out
