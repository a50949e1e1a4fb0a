"""Tileable sampling by noise rolling: any sampler, unchanged, draws tiles that wrap.

``RollingDenoiser`` wraps the ``denoiser(x_t, t) -> x̂_0`` every sampler calls (their shared
interface, ``samplers.py``): before each model call it rolls every sample's x_t by its own random
offset along the wrapping axes, and rolls the prediction back. The network so sees the tile's
seam at a new place in the middle of its input at every step and has to make it continue there;
x_t and x̂_0 stay in the tile's own coordinates, so multistep solvers, guidance, the guide and
the callback (progress bars, the reverse-process GIF) see nothing unusual. With the latent
decoder's convs padded circularly (``AutoencoderHandle.decode(z, wrap=...)``) the pixels wrap
too. The offsets come from their own generator, seeded by the sampling seed, so the initial noise
(and a model's ordinary sprite for the same seed) is unchanged. Costs nothing but the rolls.
"""

from __future__ import annotations

import torch

from ldm_sprites.data.wrap import random_offsets, roll_each


class RollingDenoiser:
    """``denoiser(x_t, t) -> x̂_0`` of ``inner`` seen through a random wrap-around shift per call
    and sample along ``axes`` ('xy', 'x' or 'y')."""

    def __init__(self, inner, axes: str, generator: torch.Generator):
        self.inner = inner
        self.axes = axes
        self.generator = generator

    def __getattr__(self, name):   # scale_at, labels, ... of the guided denoiser it wraps
        return getattr(self.inner, name)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        n, _, h, w = x.shape
        dy, dx = random_offsets(n, h, w, self.generator, self.axes)
        return roll_each(self.inner(roll_each(x, dy, dx), t), -dy, -dx)


def roll_generator(seed: int) -> torch.Generator:
    """The offsets' own generator for a sampling ``seed`` (not the initial noise's)."""
    return torch.Generator().manual_seed(int(seed) * 7919 + 1)
