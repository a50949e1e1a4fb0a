"""Convolutional encoder/decoder for sprites, sized for CPUs.

Layout (f = ``downsample``, s = ``stem``)::

    x (N, C, H, W) -> PixelUnshuffle(s) -> conv -> [ResBlock x r, Downsample] x log2(f/s)
                   -> ResBlock x r -> GroupNorm, SiLU, conv -> bottleneck input
    z (N, c, H/f, W/f) -> conv -> ResBlock x r -> [Upsample, ResBlock x r] x log2(f/s)
                   -> GroupNorm, SiLU, conv -> PixelShuffle(s) -> x_hat

The space-to-depth stem is the point of the design: a naive VQGAN-style AE runs its widest convs at
full resolution, which on a 2-core CPU costs most of the time for little gain on pixel art (flat
colours, 1-pixel outlines are recoverable from a 2x2 neighbourhood packed into channels). Here the
first conv already works at H/s and the decoder's last conv predicts s x s pixels per position. No
attention blocks: at <= 32x32 feature maps the receptive field of the conv stack covers the sprite.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ldm_sprites.autoencoder.config import AEModelSection


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of each position (ConvNeXt's LayerNorm2d).

    Its statistics do not depend on the image size or on how much of the image is background, so
    a model trained on crops around the sprite (``data.crop``) behaves the same on whole canvases;
    GroupNorm's per-image statistics would shift with the share of empty pixels.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.ln = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def make_norm(channels: int, kind: str = "group") -> nn.Module:
    if kind == "channel":
        return ChannelNorm(channels)
    # 32 groups (the usual choice) would leave 2 channels per group at width 64; 8 channels per
    # group keeps the statistics meaningful at the narrow widths used on CPU.
    return nn.GroupNorm(max(1, min(32, channels // 8)), channels, eps=1e-6)


class ResBlock(nn.Module):
    """Norm-SiLU-conv twice plus a skip; the second conv starts at zero so every block is the
    identity at init and deep stacks train from the first step."""

    def __init__(self, in_ch: int, out_ch: int | None = None, norm: str = "group"):
        super().__init__()
        out_ch = out_ch or in_ch
        self.norm1 = make_norm(in_ch, norm)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = make_norm(out_ch, norm)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.act = nn.SiLU()
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x):
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided 3x3 conv (learned, unlike pooling, so no information is thrown away blindly)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest x2 then a 3x3 conv: no checkerboard artefacts (unlike transposed convs)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x):
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


def level_widths(cfg: AEModelSection) -> list[int]:
    """Channel width of each resolution level, from the stem's resolution down to the latent's."""
    n_down = int(math.log2(cfg.downsample // cfg.stem))
    return [cfg.channels * min(2 ** i, cfg.max_mult) for i in range(n_down + 1)]


class Encoder(nn.Module):
    def __init__(self, cfg: AEModelSection, image_channels: int, out_channels: int):
        super().__init__()
        widths = level_widths(cfg)
        s = cfg.stem
        self.stem = nn.Sequential(nn.PixelUnshuffle(s) if s > 1 else nn.Identity(),
                                  nn.Conv2d(image_channels * s * s, widths[0], 3, padding=1))
        levels = []
        for i, w in enumerate(widths[:-1]):
            levels += [ResBlock(w, norm=cfg.norm) for _ in range(cfg.res_blocks)]
            levels.append(Downsample(w, widths[i + 1]))
        self.down = nn.Sequential(*levels)
        self.mid = nn.Sequential(*[ResBlock(widths[-1], norm=cfg.norm)
                                   for _ in range(cfg.res_blocks)])
        self.out = nn.Sequential(make_norm(widths[-1], cfg.norm), nn.SiLU(),
                                 nn.Conv2d(widths[-1], out_channels, 3, padding=1))

    def forward(self, x):
        return self.out(self.mid(self.down(self.stem(x))))


class Decoder(nn.Module):
    """``out_channels`` per pixel: the image's channels, or the palette head's embedding."""

    def __init__(self, cfg: AEModelSection, out_channels: int, in_channels: int):
        super().__init__()
        widths = level_widths(cfg)
        s = cfg.stem
        self.inp = nn.Conv2d(in_channels, widths[-1], 3, padding=1)
        self.mid = nn.Sequential(*[ResBlock(widths[-1], norm=cfg.norm)
                                   for _ in range(cfg.res_blocks)])
        levels = []
        for i in range(len(widths) - 1, 0, -1):
            levels.append(Upsample(widths[i], widths[i - 1]))
            levels += [ResBlock(widths[i - 1], norm=cfg.norm) for _ in range(cfg.res_blocks)]
        self.up = nn.Sequential(*levels)
        self.out = nn.Sequential(make_norm(widths[0], cfg.norm), nn.SiLU(),
                                 nn.Conv2d(widths[0], out_channels * s * s, 3, padding=1),
                                 nn.PixelShuffle(s) if s > 1 else nn.Identity())

    def forward(self, z):
        return self.out(self.up(self.mid(self.inp(z))))


class Autoencoder(nn.Module):
    """Encoder -> bottleneck (KL / VQ / FSQ, see ``quantizers``) -> decoder.

    ``encode``/``decode`` work on *unscaled* latents; the handle applies the scale factor.
    """

    def __init__(self, cfg: AEModelSection, image_channels: int):
        super().__init__()
        from ldm_sprites.autoencoder.quantizers import build_bottleneck

        self.cfg = cfg
        self.image_channels = image_channels
        self.bottleneck = build_bottleneck(cfg)
        self.encoder = Encoder(cfg, image_channels, self.bottleneck.in_channels)
        self.head = None
        if cfg.output == "palette":
            from ldm_sprites.autoencoder.palette_head import EMBED, PaletteHead

            if not cfg.palette:
                raise ValueError("output: palette needs model.palette (training fills it in)")
            self.head = PaletteHead(cfg.palette, image_channels)
            self.decoder = Decoder(cfg, EMBED, cfg.latent_channels)
        else:
            self.decoder = Decoder(cfg, image_channels, cfg.latent_channels)

    def forward(self, x, generator: torch.Generator | None = None):
        """Training pass: returns (reconstruction, BottleneckOutput). With a palette head the
        reconstruction is the expected (probability-weighted) image and ``out.logits`` the
        per-pixel log-probabilities (N, H, W, K), channels last."""
        out = self.bottleneck(self.encoder(x), generator)
        h = self.decoder(self.noisy(out.z, generator))
        if self.head is None:
            return h, out
        out.logits = self.head(h)
        return self.head.expected(out.logits), out

    def noisy(self, z, generator: torch.Generator | None = None):
        """Training only: z + s * std(z) * eps with s ~ U(0, latent_noise) per sprite (see
        ``AEModelSection.latent_noise``); noise from the trainer's generator for reproducibility."""
        level = float(getattr(self.cfg, "latent_noise", 0.0))
        if level <= 0 or not self.training:
            return z
        s = torch.rand((z.shape[0],) + (1,) * (z.ndim - 1), generator=generator) * level
        eps = torch.randn(z.shape, generator=generator)
        return z + (s * eps).to(z) * z.detach().float().std().to(z)

    def encode(self, x):
        """Deterministic latent: the posterior mean (KL) or the quantised vector (VQ/FSQ)."""
        return self.bottleneck.encode(self.encoder(x))

    def decode(self, z):
        """Latents -> model-space pixels; with a palette head, the most likely entry per pixel."""
        h = self.decoder(z)
        return h if self.head is None else self.head.hard(self.head(h))
