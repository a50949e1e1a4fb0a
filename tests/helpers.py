"""Small helpers several test files share (nothing here ships with the package)."""

from __future__ import annotations

import numpy as np


def unzoom(image: np.ndarray, size: int) -> np.ndarray:
    """The inverse of ``studio.actions.zoom``: a page's nearest-zoomed sprite back to its
    ``size`` x ``size`` pixels, to compare what the studio shows with what the CLI writes."""
    f = image.shape[0] // size
    return np.ascontiguousarray(image[::f, ::f][:size, :size])
