"""Pixel-art upscaling: integer nearest neighbour and Scale2x/EPX, both exact integer maps.

Bilinear or bicubic filtering would blur pixel art, so neither is offered.
"""

from __future__ import annotations

import numpy as np


def nearest(rgba: np.ndarray, factor: int) -> np.ndarray:
    """Every pixel becomes a ``factor`` x ``factor`` block."""
    if factor == 1:
        return rgba.copy()
    return np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)


def scale2x_once(rgba: np.ndarray) -> np.ndarray:
    """One Scale2x (AdvMAME2x) pass: doubles the size and rounds diagonal staircases.

    Scale2x is a reformulation of Eric Johnston's EPX and gives the same pixels, so
    ``--scaler epx`` and ``--scaler scale2x`` share this function. Colours are compared as whole
    RGBA words, so a transparent pixel only matches another transparent pixel of the same value.
    """
    packed = np.ascontiguousarray(rgba).view(np.uint32)[..., 0]
    padded = np.pad(packed, 1, mode="edge")
    p = packed
    a = padded[:-2, 1:-1]  # above
    b = padded[1:-1, 2:]  # right
    c = padded[1:-1, :-2]  # left
    d = padded[2:, 1:-1]  # below
    h, w = p.shape
    out = np.empty((2 * h, 2 * w), dtype=np.uint32)
    out[0::2, 0::2] = np.where((c == a) & (c != d) & (a != b), a, p)
    out[0::2, 1::2] = np.where((a == b) & (a != c) & (b != d), b, p)
    out[1::2, 0::2] = np.where((d == c) & (d != b) & (c != a), c, p)
    out[1::2, 1::2] = np.where((b == d) & (b != a) & (d != c), d, p)
    return out.view(np.uint8).reshape(2 * h, 2 * w, 4)


def scale2x(rgba: np.ndarray, factor: int) -> np.ndarray:
    """Scale2x for every factor of two in ``factor``, then nearest for the odd remainder.

    So x8 is three Scale2x passes, x6 is one pass then nearest x3, and x3 is plain nearest.
    """
    out = rgba
    while factor % 2 == 0:
        out = scale2x_once(out)
        factor //= 2
    return nearest(out, factor)


def upscale(rgba: np.ndarray, factor: int, scaler: str = "nearest") -> np.ndarray:
    if scaler == "nearest":
        return nearest(rgba, factor)
    if scaler in ("scale2x", "epx"):
        return scale2x(rgba, factor)
    raise ValueError(f"unknown scaler {scaler!r}")
