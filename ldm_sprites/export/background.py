"""Turn an image without alpha into a sprite by keying out a uniform border colour."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# JPEG noise moves flat colours by a few levels; 16 per channel still separates real colours.
COLOR_TOLERANCE = 16
# Share of border pixels that must match the most common border colour to call it background.
UNIFORM_SHARE = 0.95


def _border_pixels(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]])


def key_uniform_border(rgb: np.ndarray) -> np.ndarray | None:
    """Return RGBA with the background made transparent, or None if the border is not uniform.

    Only pixels connected to the image edge are keyed, so an eye that happens to share the
    background colour stays opaque.
    """
    border = _border_pixels(rgb).astype(np.int16)
    values, counts = np.unique(border, axis=0, return_counts=True)
    # np.unique sorts rows, so ties between equally common colours resolve the same way every run.
    key = values[int(np.argmax(counts))]
    close = np.abs(border - key).max(axis=1) <= COLOR_TOLERANCE
    if close.mean() < UNIFORM_SHARE:
        return None
    matches = np.abs(rgb.astype(np.int16) - key).max(axis=2) <= COLOR_TOLERANCE
    labels, _ = ndimage.label(matches)
    edge_labels = np.unique(_border_pixels(labels[..., None])[:, 0])
    background = np.isin(labels, edge_labels[edge_labels > 0])
    rgba = np.zeros(rgb.shape[:2] + (4,), dtype=np.uint8)
    rgba[..., :3] = rgb
    rgba[..., 3] = np.where(background, 0, 255)
    rgba[background, :3] = 0
    return rgba
