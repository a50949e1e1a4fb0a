"""Distances between two sets of features: Fréchet distance (FID's formula) and KID."""

from __future__ import annotations

import numpy as np


def _centred_factor(f: np.ndarray) -> np.ndarray:
    """R with Rᵀ R = Σ (the sample covariance of the rows of ``f``), at most min(N, D) rows."""
    a = (f - f.mean(0)) / np.sqrt(max(len(f) - 1, 1))
    return np.linalg.qr(a, mode="r") if a.shape[0] > a.shape[1] else a


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between Gaussians fitted to the two sets.

    Computed without a D × D matrix square root: with Σi = Riᵀ Ri, the eigenvalues of Σ1 Σ2 are
    the squared singular values of R1 R2ᵀ, so Tr (Σ1 Σ2)^½ is the nuclear norm of R1 R2ᵀ, a
    matrix of at most min(N, D) × min(N, D). Exact (no imaginary parts to drop, no ridge) and
    fast for D = 1280 features of a few hundred sprites.
    """
    f1, f2 = np.asarray(f1, dtype=np.float64), np.asarray(f2, dtype=np.float64)
    r1, r2 = _centred_factor(f1), _centred_factor(f2)
    diff = f1.mean(0) - f2.mean(0)
    cross = np.linalg.svd(r1 @ r2.T, compute_uv=False).sum()
    fd = float(diff @ diff + (r1 * r1).sum() + (r2 * r2).sum() - 2 * cross)
    return max(fd, 0.0)  # round-off can make an exact match a tiny negative number


def _fd_from_grams(kaa: np.ndarray, kbb: np.ndarray, kab: np.ndarray) -> float:
    """FD from the Gram matrices A Aᵀ, B Bᵀ, A Bᵀ of the two sets (rows = samples): the same
    number as ``frechet_distance`` at a cost set by N, not D (double-centring a Gram matrix
    centres the features)."""
    def centre(k):
        return k - k.mean(0) - k.mean(1)[:, None] + k.mean()

    n1, n2 = len(kaa), len(kbb)
    mean_sq = kaa.mean() + kbb.mean() - 2 * kab.mean()
    c = centre(kab)
    # Singular values of C as square roots of the eigenvalues of the smaller of C Cᵀ and Cᵀ C:
    # ~6x faster than an SVD, and a bootstrap needs no more than ~1e-9 relative precision.
    eig = np.linalg.eigvalsh(c @ c.T if n1 <= n2 else c.T @ c)
    cross = np.sqrt(np.clip(eig, 0, None)).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    fd = mean_sq + np.trace(centre(kaa)) / (n1 - 1) + np.trace(centre(kbb)) / (n2 - 1) - 2 * cross
    return max(float(fd), 0.0)


def bootstrap_fd(f1: np.ndarray, f2: np.ndarray, resamples: int = 50, seed: int = 0,
                 level: float = 0.95) -> dict:
    """FD with a bootstrap interval: both sets resampled with replacement, ``resamples`` times.

    Resampling with replacement repeats rows, which inflates FD (its small-sample bias grows),
    so the raw percentiles sit above the estimate; the interval reported is the central
    ``level`` range of the bootstrap FDs shifted by their mean bias (mean − estimate), clipped
    at 0: the spread a rerun with fresh samples would show. Same seed, same interval.
    Returns ``{"fd", "ci95": [lo, hi] or None, "resamples"}``.
    """
    f1, f2 = np.asarray(f1, dtype=np.float64), np.asarray(f2, dtype=np.float64)
    fd = frechet_distance(f1, f2)
    n1, n2 = len(f1), len(f2)
    if resamples < 2 or min(n1, n2) < 2:
        return {"fd": fd, "ci95": None, "resamples": 0}
    if min(n1, n2) <= f1.shape[1]:  # fewer samples than features: work on N x N Gram matrices
        shift = np.concatenate([f1, f2]).mean(0)  # FD ignores a common shift; round-off does not
        a, b = f1 - shift, f2 - shift
        kaa, kbb, kab = a @ a.T, b @ b.T, a @ b.T

        def one(i, j):
            return _fd_from_grams(kaa[np.ix_(i, i)], kbb[np.ix_(j, j)], kab[np.ix_(i, j)])
    else:
        def one(i, j):
            return frechet_distance(f1[i], f2[j])
    rng = np.random.default_rng(seed)
    boot = np.array([one(rng.integers(0, n1, n1), rng.integers(0, n2, n2))
                     for _ in range(resamples)])
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(boot - (boot.mean() - fd), [tail, 100 - tail])
    return {"fd": fd, "ci95": [max(float(lo), 0.0), max(float(hi), 0.0)],
            "resamples": int(resamples)}


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
    if m == len(f1) == len(f2):
        # every "subset" would be the same pair of whole sets: one estimate, no spread
        return float(mmd2_unbiased(f1, f2)), 0.0
    rng = np.random.default_rng(seed)
    vals = [mmd2_unbiased(f1[rng.choice(len(f1), m, replace=False)],
                          f2[rng.choice(len(f2), m, replace=False)]) for _ in range(subsets)]
    return float(np.mean(vals)), float(np.std(vals))


def class_agreement(fake: np.ndarray, fake_labels, real: np.ndarray, real_labels) -> float:
    """Share of generated sprites whose features lie nearest the mean features of the class they
    were asked for (among the real classes' means): how much of the class a sampler keeps.
    Compare with the real sprites' own share (``class_agreement(real, labels, real, labels)``),
    the ceiling these features allow; chance is about one over the number of classes."""
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    ids = np.unique(real_labels)
    means = np.stack([real[real_labels == k].mean(0) for k in ids])
    d = ((fake[:, None, :] - means[None]) ** 2).sum(-1)
    return float((ids[d.argmin(1)] == fake_labels).mean())
