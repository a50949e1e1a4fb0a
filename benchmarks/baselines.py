"""A plain ViT denoiser (nn.TransformerEncoder + additive time embedding): the reference the DiT
is measured against. Same width, depth, heads, patching and token count as the DiT preset."""

from __future__ import annotations

import torch
import torch.nn as nn
from einops import rearrange

from ldm_sprites.diffusion.dit import TimestepEmbedder, sincos_pos_embed_2d


class PlainViTDenoiser(nn.Module):
    def __init__(self, input_size=64, in_channels=4, patch_size=4, hidden_size=288, depth=16,
                 num_heads=8, mlp_ratio=4.0, num_classes=0):
        super().__init__()
        self.p, self.c, self.grid = patch_size, in_channels, input_size // patch_size
        self.embed = nn.Conv2d(in_channels, hidden_size, patch_size, patch_size)
        # the DiT's fixed 2-D sin-cos positions, so that the comparison isolates the conditioning
        # (additive vs adaLN-Zero) and the block implementation
        self.register_buffer("pos", torch.from_numpy(sincos_pos_embed_2d(hidden_size, self.grid))
                             .float().unsqueeze(0), persistent=False)
        self.t_embed = TimestepEmbedder(hidden_size)
        self.y_embed = nn.Embedding(num_classes + 1, hidden_size)
        layer = nn.TransformerEncoderLayer(hidden_size, num_heads, int(hidden_size * mlp_ratio),
                                           dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.out = nn.Linear(hidden_size, patch_size * patch_size * in_channels)

    def forward(self, x, t, y):
        h = rearrange(self.embed(x), "b d gh gw -> b (gh gw) d") + self.pos
        h = h + (self.t_embed(t) + self.y_embed(y)).unsqueeze(1)  # additive conditioning
        h = self.out(self.norm(self.encoder(h)))
        return rearrange(h, "b (gh gw) (p1 p2 c) -> b c (gh p1) (gw p2)", gh=self.grid,
                         p1=self.p, p2=self.p, c=self.c)
