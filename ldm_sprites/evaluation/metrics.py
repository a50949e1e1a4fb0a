"""Distances between two sets of features: Fréchet distance (FID's formula) and KID."""

from __future__ import annotations

import numpy as np


def frechet_distance(f1: np.ndarray, f2: np.ndarray, eps: float = 1e-6) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between Gaussians fitted to the two sets.

    sqrtm of a product of (near-)singular covariances can come back complex or non-finite from
    round-off; as in the reference FID code the imaginary part is dropped and, if needed, a small
    ridge is added to both covariances.
    """
    import warnings

    from scipy import linalg

    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1 = np.atleast_2d(np.cov(f1, rowvar=False))
    s2 = np.atleast_2d(np.cov(f2, rowvar=False))
    with warnings.catch_warnings():  # singular covariances (D > N) are expected and handled
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            ridge = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + ridge) @ (s2 + ridge))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return max(fd, 0.0)  # round-off can make an exact match a tiny negative number


def _poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel (diagonals of Kxx, Kyy left out)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD² over random subsets.

    Subsets of the two sets are drawn independently, so for two sets from the same distribution
    the expected value is 0 (single estimates may be negative; they are not clipped).
    """
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        from ldm_sprites.errors import UserError

        raise UserError("KID needs at least 2 samples in each set; raise --num")
    rng = np.random.default_rng(seed)
    vals = [mmd2_unbiased(f1[rng.choice(len(f1), m, replace=False)],
                          f2[rng.choice(len(f2), m, replace=False)]) for _ in range(subsets)]
    return float(np.mean(vals)), float(np.std(vals))
