"""Measuring how faithfully an SVG reproduces a sprite, with an independent renderer.

Used by the export tests and by benchmarks/bench_export.py. The renderers (resvg-py, cairosvg)
are dev dependencies, imported only when a measurement is made.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

RENDERERS = ("resvg", "cairosvg")


def rasterize(svg: str, renderer: str = "resvg") -> np.ndarray:
    """Render an SVG at its own width/height to an (H, W, 4) uint8 array."""
    if renderer == "resvg":
        import resvg_py

        png = bytes(resvg_py.svg_to_bytes(svg_string=svg))
    elif renderer == "cairosvg":
        import cairosvg

        png = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    else:
        raise ValueError(f"unknown renderer {renderer!r}")
    with Image.open(io.BytesIO(png)) as image:
        return np.array(image.convert("RGBA"))


def identical_share(rendered: np.ndarray, reference: np.ndarray) -> float:
    """Share of pixels with identical RGBA (any two fully transparent pixels count as equal)."""
    same = (rendered == reference).all(axis=-1)
    same |= (rendered[..., 3] == 0) & (reference[..., 3] == 0)
    return float(same.mean())


def alpha_iou(rendered: np.ndarray, reference: np.ndarray, threshold: int = 128) -> float:
    """Intersection over union of the opaque (alpha >= threshold) areas."""
    a = rendered[..., 3] >= threshold
    b = reference[..., 3] >= threshold
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0
