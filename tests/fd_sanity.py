"""Sets whose FD order is known, to check that a feature extractor ranks sprites like eyes do.

From a set of real sprites: a *reference* half and a *held-out* half, then corrupted copies of
the held-out half. Against the reference, a trustworthy extractor must give

    held-out < noisy < pure noise      and      held-out < blurred,

and it should put ``blob noise`` (random colours inside the real silhouettes: what an
undertrained latent model draws) above the noisy sprites. Used by test_eval_features.py.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ldm_sprites.evaluation.metrics import frechet_distance

NOISE_SIGMA = 32.0  # levels of Gaussian noise added to the colour of the noisy sprites

# The orderings that must hold: (better, worse) by FD against the reference.
EXPECTED = (("held-out", "noisy"), ("noisy", "pure noise"), ("held-out", "blurred"))


def add_noise(rgba: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise on the colour channels; alpha (the silhouette) unchanged."""
    x = rgba.astype(np.float32)
    x[..., :3] += rng.normal(0.0, sigma, x[..., :3].shape)
    return np.clip(x, 0, 255).round().astype(np.uint8)


def blob_noise(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform random colours inside the real silhouettes."""
    x = rgba.copy()
    x[..., :3] = rng.integers(0, 256, x[..., :3].shape, dtype=np.uint8)
    return x


def pure_noise(rgba: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform random RGBA of the same shape."""
    return rng.integers(0, 256, rgba.shape, dtype=np.uint8)


def blur(rgba: np.ndarray) -> np.ndarray:
    """3x3 binomial blur of premultiplied RGBA (edges and outlines go soft, colours stay)."""
    t = torch.from_numpy(np.ascontiguousarray(rgba)).permute(0, 3, 1, 2).float() / 255.0
    a = t[:, 3:]
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None]) / 16.0
    pm = torch.cat([t[:, :3] * a, a], 1)
    pm = F.conv2d(F.pad(pm, (1, 1, 1, 1), mode="replicate"), k.expand(4, 1, 3, 3), groups=4)
    a = pm[:, 3:]
    out = torch.cat([pm[:, :3] / a.clamp_min(1e-6), a], 1).clamp(0, 1)
    return (out * 255).round().byte().permute(0, 2, 3, 1).numpy()


def ordered_sets(real: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(reference half, {name: set}) from ``real`` (N, H, W, 4) uint8, split at random."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(real))
    h = len(real) // 2
    ref, held = real[perm[:h]], real[perm[h:2 * h]]
    return ref, {"held-out": held, "noisy": add_noise(held, NOISE_SIGMA, rng),
                 "blurred": blur(held), "blob noise": blob_noise(held, rng),
                 "pure noise": pure_noise(held, rng)}


def set_features(extractor, real: np.ndarray, seed: int = 0):
    """(reference features, {name: features}) of ``ordered_sets`` in ``extractor`` features."""
    ref, sets = ordered_sets(real, seed)
    return extractor(ref), {name: extractor(x) for name, x in sets.items()}


def ranking(extractor, real: np.ndarray, seed: int = 0) -> dict[str, float]:
    """FD of each set of ``ordered_sets`` against the reference half, in ``extractor`` features."""
    f_ref, feats = set_features(extractor, real, seed)
    return {name: frechet_distance(f_ref, f) for name, f in feats.items()}


def violations(fds: dict[str, float]) -> list[str]:
    """The expected orderings that ``fds`` breaks, as 'a < b' strings (empty: all hold)."""
    return [f"{a} < {b}" for a, b in EXPECTED if not fds[a] < fds[b]]
