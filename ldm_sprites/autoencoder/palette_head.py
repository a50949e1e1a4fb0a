"""A decoder output that *chooses* a colour per pixel instead of regressing one
(``model.output: palette``).

Why: a decoder that regresses RGBA averages whenever it is unsure, and a diffusion model's samples
leave it unsure everywhere, so flat areas come out as jitter (hundreds of colours per sprite),
edges as half-transparent pixels, and 1-px details as speckle. Pixel art is the opposite: a few
flat colours and alpha 0 or 255. Here the decoder predicts, per pixel, logits over the training
data's palette plus "transparent" (index 0 when there is an alpha channel); decoding takes the
most likely entry, so raw output is in-palette with hard alpha by construction, and an unsure
region resolves to one of the colours it hesitates between rather than to their mix.

Training uses cross-entropy against each pixel's nearest palette entry, plus the usual
reconstruction loss on the *expected* colour (softmax-weighted palette), which tells the decoder
that confusing two close shades costs less than confusing an outline with a highlight.

The head works at full resolution but is cheap: the decoder's last 3x3 conv (at H/stem) predicts
a small per-pixel embedding (``EMBED`` channels per pixel, depth-to-space), and a 1x1 conv maps it
to the K + 1 logits: ~EMBED * (K + 1) multiply-adds per pixel instead of a 3x3 conv to
(K + 1) * stem^2 channels, which would cost more than the rest of the decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBED = 16   # per-pixel embedding width in front of the logits


def hex_to_rgba(colors: list[str]) -> torch.Tensor:
    """``["#rrggbb" | "#rrggbbaa", ...]`` -> (K, 4) float straight RGBA in [0, 1] (alpha 1 for
    ``#rrggbb``)."""
    try:
        vals = []
        for c in colors:
            h = c.lstrip("#")
            if len(h) not in (6, 8):
                raise ValueError(c)
            vals.append([int(h[i:i + 2], 16) for i in (0, 2, 4)] + [int(h[6:] or "ff", 16)])
    except (ValueError, AttributeError, TypeError):
        from ldm_sprites.errors import UserError
        shown = repr(colors)[:120]
        raise UserError(f"model.palette must be a list of '#rrggbb' (or '#rrggbbaa') colours, "
                        f"got {shown}") from None
    return torch.tensor(vals, dtype=torch.float32).reshape(-1, 4) / 255.0


class PaletteHead(nn.Module):
    """Per-pixel embedding -> log-probabilities over the palette (+ transparent) -> pixels.

    ``entries`` (buffer, (K [+1], C)) holds each choice in model space (premultiplied, [-1, 1]):
    with ``channels=4`` entry 0 is transparent (-1, -1, -1, -1) and entry i is palette colour
    i-1 at its alpha — 1 for ``#rrggbb``, less for the ``#rrggbbaa`` soft colours that training
    adds when the data has soft shadows or glows; with ``channels=3`` the entries are the
    palette colours.
    """

    def __init__(self, colors: list[str], channels: int):
        super().__init__()
        rgba = hex_to_rgba(colors)
        if channels == 4:
            premultiplied = torch.cat([rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]], 1) * 2 - 1
            entries = torch.cat([-torch.ones(1, 4), premultiplied])
        else:
            entries = rgba[:, :3] * 2.0 - 1.0
        self.register_buffer("entries", entries, persistent=False)
        self.channels = channels
        self.soft = channels == 4 and bool((rgba[:, 3] < 1).any())
        self.logits = nn.Conv2d(EMBED, len(entries), 1)

    @property
    def size(self) -> int:
        return self.entries.shape[0]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, EMBED, H, W) -> log-probabilities (N, H, W, K [+1]), channels last.

        Channels last because every later step (softmax, cross-entropy, the expected colour,
        argmax) works along the choices: with them innermost nothing large is ever transposed
        (NCHW logits cost ~4x more per training step, most of it in copies)."""
        f = F.silu(features.permute(0, 2, 3, 1))
        logits = F.linear(f, self.logits.weight.flatten(1), self.logits.bias)
        return logits.float().log_softmax(-1)

    def expected(self, logp: torch.Tensor) -> torch.Tensor:
        """Probability-weighted entries (N, C, H, W): a differentiable image for the
        reconstruction losses."""
        return (logp.exp() @ self.entries).permute(0, 3, 1, 2)

    def hard(self, logp: torch.Tensor) -> torch.Tensor:
        """The most likely entry per pixel, (N, C, H, W) in model space."""
        return self.entries[logp.argmax(-1)].permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H, W) long: the entry each model-space pixel of ``x`` is closest to.

        Hard-alpha palettes: pixels below half coverage are transparent, the others take the
        nearest palette colour of their straight (un-premultiplied) colour. With soft entries
        every pixel takes the nearest entry in premultiplied RGBA, transparent included, as
        finishing does (``finish.snap.snap_indices``)."""
        if self.soft:
            p, colors = x.permute(0, 2, 3, 1).reshape(-1, 4), self.entries
        elif self.channels == 4:
            a = (x[:, 3:4] + 1) / 2
            rgb = torch.where(a > 0, ((x[:, :3] + 1) / 2) / a.clamp_min(1e-6), 0.0) * 2 - 1
            p, colors = rgb.permute(0, 2, 3, 1).reshape(-1, 3), self.entries[1:, :3]
        else:
            p, colors = x.permute(0, 2, 3, 1).reshape(-1, 3), self.entries
        # argmin |p - c|^2 = argmin |c|^2 - 2 p.c: one matrix product, no square roots
        idx = (colors.pow(2).sum(1) - 2 * p @ colors.T).argmin(1).view(x.shape[0], *x.shape[2:])
        if self.channels == 4 and not self.soft:
            idx = torch.where(a[:, 0] >= 0.5, idx + 1, 0)
        return idx


def palette_loss(logp: torch.Tensor, x: torch.Tensor, head: PaletteHead) -> torch.Tensor:
    """Mean cross-entropy of the head's log-probabilities against each pixel's nearest entry."""
    return F.nll_loss(logp.reshape(-1, logp.shape[-1]), head.targets(x).reshape(-1))
