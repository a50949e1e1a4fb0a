"""RGBA pixels <-> model tensors, and augmentations that run on tensors (never on image files).

Colour convention: **premultiplied alpha**, scaled to [-1, 1]. A fully transparent pixel is
therefore always (-1, -1, -1, -1) whatever colour the file stored under it, so the model never
has to learn the arbitrary RGB that image editors leave in transparent areas, and blending or
resampling in this space cannot produce coloured fringes. Decoding divides colour by alpha again.
With ``channels=3`` images are composited on a background colour first (see ``images.composite_on``).
"""

from __future__ import annotations

import numpy as np
import torch


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    """(..., 4) uint8 straight RGBA -> (..., 4) float64 premultiplied, in levels (0..255): the
    colour a pixel adds over a background, where distances between soft pixels mean something."""
    x = rgba.astype(np.float64)
    return np.concatenate([x[..., :3] * x[..., 3:] / 255.0, x[..., 3:]], -1)


def rgba_uint8_to_model(images: torch.Tensor, channels: int = 4) -> torch.Tensor:
    """(N, 4, H, W) uint8 straight RGBA -> (N, channels, H, W) float32 in [-1, 1], premultiplied."""
    x = images.float() / 255.0
    alpha = x[:, 3:4]
    rgb = x[:, :3] * alpha
    out = torch.cat([rgb, alpha], 1) if channels == 4 else rgb
    return out * 2.0 - 1.0


def model_to_rgba_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float in [-1, 1] (C = 3 or 4) -> (N, H, W, 4) uint8 straight RGBA."""
    x = ((x.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
    if x.shape[1] == 3:
        alpha = torch.ones_like(x[:, :1])
        rgb = x
    else:
        alpha = x[:, 3:4]
        # Un-premultiply; pixels that are (almost) fully transparent get colour 0.
        rgb = torch.where(alpha > 1.0 / 255.0, (x[:, :3] / alpha.clamp_min(1e-6)).clamp(0, 1),
                          torch.zeros_like(x[:, :3]))
        alpha = torch.where(alpha > 1.0 / 255.0, alpha, torch.zeros_like(alpha))
    out = torch.cat([rgb, alpha], 1).permute(0, 2, 3, 1)
    return (out * 255.0).round().to(torch.uint8).numpy()


def hue_rotation_matrix(angle: torch.Tensor) -> torch.Tensor:
    """(N,) angles in radians -> (N, 3, 3) matrices rotating RGB about the grey axis.

    A rotation about (1,1,1)/sqrt(3) shifts hue while keeping brightness and saturation, and it
    is linear, so it commutes with premultiplication.
    """
    c, s = torch.cos(angle), torch.sin(angle)
    k = 1.0 / 3.0
    sq = (1.0 / 3.0) ** 0.5
    a = c + (1 - c) * k
    b = (1 - c) * k - sq * s
    d = (1 - c) * k + sq * s
    row0 = torch.stack([a, b, d], -1)
    row1 = torch.stack([d, a, b], -1)
    row2 = torch.stack([b, d, a], -1)
    return torch.stack([row0, row1, row2], -2)


def augment(x: torch.Tensor, generator: torch.Generator, flip: bool = True,
            hue_jitter: float = 0.0, shift: int = 0) -> torch.Tensor:
    """Augment a model-space batch. ``hue_jitter`` is the max hue rotation as a fraction of 360°;
    ``shift`` the max translation in whole pixels (per sample, both axes, wrapping around).

    No blur, rotation or scaling: they destroy pixel art. Whole-pixel shifts keep it exact; they
    are meant for the autoencoder (a sprite shifted by 1-3 px meets the encoder's 4x4 patch grid
    at a new phase, so every sprite teaches several distinct patch sets), not for diffusion, where
    the wrap-around would teach the model to draw split sprites. The colour-jitter acts on the
    first three channels only, so in latent mode pass ``hue_jitter=0``.
    """
    n = x.shape[0]
    if flip:
        mask = torch.rand(n, generator=generator, device="cpu").to(x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    if shift > 0:
        offsets = torch.randint(-shift, shift + 1, (n, 2), generator=generator).tolist()
        x = torch.stack([xi.roll((dy, dx), dims=(-2, -1)) for xi, (dy, dx) in zip(x, offsets)])
    if hue_jitter > 0:
        angle = (torch.rand(n, generator=generator, device="cpu") * 2 - 1) * hue_jitter * 2 * np.pi
        m = hue_rotation_matrix(angle).to(x)
        rgb01 = (x[:, :3] + 1) / 2
        rgb01 = torch.einsum("nij,njhw->nihw", m, rgb01).clamp(0, 1)
        if x.shape[1] == 4:
            # Keep premultiplied colour inside [0, alpha].
            alpha01 = (x[:, 3:4] + 1) / 2
            rgb01 = torch.minimum(rgb01, alpha01)
        x = torch.cat([rgb01 * 2 - 1, x[:, 3:]], 1)
    return x
