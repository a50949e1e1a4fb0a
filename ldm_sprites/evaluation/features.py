"""Feature extractors for FD/KID: sprites (N, H, W, 4) uint8 -> (N, D) float64 features.

* ``inception`` — Inception-v3 pool features (2048-d), the FID standard. Sprites are composited
  on grey and upscaled to 299 px; the weights are downloaded by torchvision once.
* ``offline`` — no download, deterministic, fast on CPU: a fixed random-weight conv net (seeded;
  "random network features" rank generators much like FID does, Naeini et al. 2019 / Kynkäänniemi
  et al. 2023) concatenated with a colour histogram of opaque pixels and alpha statistics
  (coverage histogram + coarse silhouette). Numbers are only comparable with other numbers from
  the same extractor, sprite size and --num; see docs/visualize.md for its limits.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ldm_sprites.errors import UserError

BACKGROUND = 128  # mid grey: dark outlines and light highlights both stay visible


def composite(rgba: np.ndarray, background: int = BACKGROUND) -> torch.Tensor:
    """(N, H, W, 4) uint8 -> (N, 3, H, W) float in [0, 1], alpha-composited on a fixed grey."""
    x = torch.from_numpy(np.ascontiguousarray(rgba)).permute(0, 3, 1, 2).float() / 255.0
    a = x[:, 3:4]
    return x[:, :3] * a + (background / 255.0) * (1 - a)


class OfflineFeatures:
    """Random-weight CNN features + colour and alpha histograms. Needs no download."""

    name = "offline"
    RES = 64          # sprites are nearest-upscaled to 64 px so 16..64 px sprites share a net
    WIDTHS = (32, 64, 128)
    COLOR_BINS = 4    # per channel -> 64 colour bins
    ALPHA_BINS = 8

    def __init__(self, seed: int = 0, batch_size: int = 256):
        gen = torch.Generator().manual_seed(seed)
        self.weights, c_in = [], 3
        for c_out in self.WIDTHS:  # He-initialised 3x3 convs: activations keep their scale
            w = torch.randn(c_out, c_in, 3, 3, generator=gen) * math.sqrt(2.0 / (c_in * 9))
            self.weights.append(w)
            c_in = c_out
        self.batch_size = batch_size

    def _cnn(self, rgb: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(rgb, size=(self.RES, self.RES), mode="nearest") * 2 - 1
        for w in self.weights:
            x = F.avg_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)

    def _histograms(self, rgba: torch.Tensor) -> torch.Tensor:
        """Colour histogram of opaque pixels, alpha-value histogram, 4x4 coverage map."""
        n = rgba.shape[0]
        alpha = rgba[:, 3].float() / 255.0
        opaque = (alpha >= 0.5).flatten(1).float()
        q = (rgba[:, :3].long() * self.COLOR_BINS // 256).flatten(2)
        code = (q[:, 0] * self.COLOR_BINS + q[:, 1]) * self.COLOR_BINS + q[:, 2]
        bins = self.COLOR_BINS ** 3
        color = torch.zeros(n, bins).scatter_add_(1, code, opaque)
        color = color / opaque.sum(1, keepdim=True).clamp_min(1)
        a_code = (alpha.flatten(1) * (self.ALPHA_BINS - 1)).round().long()
        a_hist = torch.zeros(n, self.ALPHA_BINS).scatter_add_(1, a_code, torch.ones_like(alpha.flatten(1)))
        a_hist = a_hist / alpha[0].numel()
        coverage = F.adaptive_avg_pool2d(alpha[:, None], 4).flatten(1)
        return torch.cat([color, a_hist, coverage], 1)

    @torch.no_grad()
    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(rgba), self.batch_size):
            chunk = rgba[i:i + self.batch_size]
            t = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
            out.append(torch.cat([self._cnn(composite(chunk)), self._histograms(t)], 1))
        return torch.cat(out).double().numpy()


class InceptionFeatures:
    """Inception-v3 (ImageNet) 2048-d pool features, as used by FID."""

    name = "inception"

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 64):
        import torchvision

        weights = torchvision.models.Inception_V3_Weights.DEFAULT
        try:
            model = torchvision.models.inception_v3(weights=weights)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
            cache = Path(torch.hub.get_dir()) / "checkpoints"
            raise UserError(f"Inception-v3 weights are not cached and cannot be downloaded "
                            f"(offline: {type(exc).__name__}); use --features offline or put "
                            f"the weights in the torch hub cache ({cache})") from None
        model.fc = torch.nn.Identity()
        self.model = model.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(rgba), self.batch_size):
            x = composite(rgba[i:i + self.batch_size])
            # Nearest upscaling keeps pixel-art edges (bilinear would invent blur the data lacks).
            x = F.interpolate(x, size=(299, 299), mode="nearest")
            x = ((x - self.mean) / self.std).to(self.device)
            out.append(self.model(x).float().cpu())
        return torch.cat(out).double().numpy()


def get_extractor(name: str, device: str | torch.device = "cpu"):
    if name == "offline":
        return OfflineFeatures()
    if name == "inception":
        return InceptionFeatures(device)
    raise UserError(f"unknown feature extractor '{name}'; choose offline or inception")
