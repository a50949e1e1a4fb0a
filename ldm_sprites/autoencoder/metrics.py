"""Reconstruction metrics: colour PSNR over covered pixels, alpha IoU, codebook usage.

All functions take model-space batches (premultiplied, [-1, 1]) and return *sums* plus counts so
that a data set can be evaluated in batches and pooled exactly (PSNR of the pooled MSE, IoU of the
pooled intersection / union) — not a mean of per-batch values.
"""

from __future__ import annotations

import math

import torch


def covered_mask(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) bool: pixels the input sprite covers (alpha >= 0.5; all pixels for RGB)."""
    if x.shape[1] == 4:
        return x[:, 3:4] >= 0.0
    return torch.ones_like(x[:, :1], dtype=torch.bool)


def recon_sums(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Sums for PSNR and IoU. Colour is premultiplied RGB in [0, 1] (the sprite composited on
    black), which is what is displayed and stays finite where the reconstruction's alpha is ~0."""
    x_hat = x_hat.float().clamp(-1, 1)
    x = x.float()
    m = covered_mask(x)
    se = ((x_hat[:, :3] - x[:, :3]) / 2.0).pow(2) * m
    out = {"se": se.sum().item(), "n_px": 3.0 * m.sum().item()}
    if x.shape[1] == 4:
        a_hat = x_hat[:, 3:4] >= 0.0
        out["inter"] = (a_hat & m).sum().item()
        out["union"] = (a_hat | m).sum().item()
    return out


def add_sums(total: dict, part: dict) -> dict:
    for k, v in part.items():
        total[k] = total.get(k, 0.0) + v
    return total


def finish(sums: dict) -> dict[str, float]:
    """Pooled sums -> {"psnr": dB, "alpha_iou": [0, 1]} (IoU only for RGBA)."""
    mse = sums["se"] / max(sums["n_px"], 1.0)
    out = {"psnr": 10.0 * math.log10(1.0 / max(mse, 1e-12))}
    if "union" in sums:
        out["alpha_iou"] = sums["inter"] / max(sums["union"], 1.0)
    return out


def batch_psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PSNR of one batch as a tensor (for the training log; no host sync)."""
    m = covered_mask(x)
    se = ((x_hat.detach()[:, :3].clamp(-1, 1) - x[:, :3]) / 2.0).pow(2) * m
    mse = se.sum() / (3.0 * m.sum()).clamp_min(1.0)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def batch_alpha_iou(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    m = covered_mask(x)
    a = x_hat.detach()[:, 3:4] >= 0.0
    return (a & m).sum() / (a | m).sum().clamp_min(1)


def code_usage(indices: torch.Tensor, codebook_size: int) -> dict[str, torch.Tensor]:
    """Share of the codebook used and perplexity (exp of the code entropy) of a set of indices.

    A perplexity close to the number of used codes means they are used evenly; a collapsed
    codebook has perplexity near 1.
    """
    counts = torch.bincount(indices.reshape(-1).long(), minlength=codebook_size).float()
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return {"usage": (counts > 0).float().mean(), "perplexity": entropy.exp()}
