"""Reconstruction and adversarial losses. Nothing here needs downloaded weights (no LPIPS).

Pixels are in model space: premultiplied colour and alpha in [-1, 1] (``data.tensors``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ldm_sprites.autoencoder.config import AELossSection


def coverage(x: torch.Tensor) -> torch.Tensor:
    """Alpha in [0, 1] of a model-space RGBA batch, (N, 1, H, W)."""
    return (x[:, 3:4] + 1.0) / 2.0


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, cfg: AELossSection):
    """Alpha-weighted L1 + MSE on colour, plus L1 + MSE on alpha. Returns (loss, logs).

    Colour errors count fully where the sprite is opaque and ``transparent_weight`` where it is
    not: premultiplied colour there must still go to -1 (else un-premultiplying amplifies it at
    soft edges), but those pixels are easy and would otherwise dominate sprites that are mostly
    background.
    """
    rgb, rgb_hat = x[:, :3], x_hat[:, :3]
    if x.shape[1] == 4:
        a = coverage(x)
        w = cfg.transparent_weight + (1.0 - cfg.transparent_weight) * a
        w = w / w.mean().clamp_min(1e-6)   # keep the loss scale independent of sprite coverage
    else:
        w = torch.ones_like(rgb[:, :1])
    diff = rgb_hat - rgb
    l1 = (w * diff.abs()).mean()
    mse = (w * diff.pow(2)).mean()
    loss = cfg.l1_weight * l1 + cfg.mse_weight * mse
    logs = {"l1": l1.detach(), "mse": mse.detach()}
    if x.shape[1] == 4:
        da = x_hat[:, 3:4] - x[:, 3:4]
        alpha = da.abs().mean() + da.pow(2).mean()
        loss = loss + cfg.alpha_weight * alpha
        logs["alpha_loss"] = alpha.detach()
    return loss, logs


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix / VQGAN) scaled down: strided convs -> one logit per patch.

    GroupNorm instead of BatchNorm so the output does not depend on the batch composition (and
    works at batch size 1); spectral norm is not needed with the hinge loss at this size.
    """

    def __init__(self, in_channels: int, channels: int = 32, layers: int = 2):
        super().__init__()
        mods = [nn.Conv2d(in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        ch = channels
        for _ in range(layers - 1):
            mods += [nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1),
                     nn.GroupNorm(max(1, ch * 2 // 16), ch * 2), nn.LeakyReLU(0.2)]
            ch *= 2
        mods += [nn.Conv2d(ch, ch, 3, padding=1), nn.GroupNorm(max(1, ch // 16), ch),
                 nn.LeakyReLU(0.2), nn.Conv2d(ch, 1, 3, padding=1)]
        self.net = nn.Sequential(*mods)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)   # DCGAN init, as in the PatchGAN paper
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def hinge_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    return -logits_fake.mean()
