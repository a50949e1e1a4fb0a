"""Diffusion Transformer (Peebles & Xie 2023) with adaLN-Zero conditioning.

Small named modules in the style of facebookresearch/DiT: a timestep embedder, a label embedder
whose ``token_drop`` implements classifier-free-guidance dropout, the block, the final layer, and
presets by name. The patch embedding is a space-to-depth stem (p×p pixels -> one token), which is
what keeps the work at full resolution small: a 64×64 sprite with patch 4 is 256 tokens, a 16×16
latent with patch 2 is 64.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange


@dataclass(frozen=True)
class DiTConfig:
    input_size: int = 32          # spatial size of the model input (pixels or latent cells)
    in_channels: int = 4
    patch_size: int = 2
    hidden_size: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    mlp_conv: bool = False        # a depthwise 3x3 conv over the token grid inside each MLP
    num_classes: int = 0          # 0 = unconditional; the null class id is always num_classes
    class_dropout: float = 0.1    # label dropout for classifier-free guidance
    # Tiles: a network without an edge (periodic position embedding, circularly padded token
    # conv) told per tile whether it wraps along x and along y (``WrapEmbedder``)
    wrap_condition: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def num_tokens(self) -> int:
        return (self.input_size // self.patch_size) ** 2


# Presets by name: (hidden, depth, heads). "ddpm" is the classic pixel baseline (24.3 M params
# at 64x64 / patch 4, RGBA, 18 classes; tests/test_stated_defaults.py counts them); the others are
# sized for 2-core CPUs up to a single GPU.
PRESETS: dict[str, dict] = {
    "nano": dict(hidden_size=64, depth=2, num_heads=2),
    "tiny": dict(hidden_size=128, depth=4, num_heads=4),
    "small": dict(hidden_size=256, depth=6, num_heads=4),
    "ddpm": dict(hidden_size=288, depth=16, num_heads=8),
    "base": dict(hidden_size=384, depth=12, num_heads=6),
}


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class TimestepEmbedder(nn.Module):
    """Sinusoidal embedding of the (integer) timestep followed by a two-layer MLP."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    @staticmethod
    def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device,
                                                               dtype=torch.float32) / half)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = self.timestep_embedding(t, self.frequency_embedding_size)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """Class embedding with one extra "null" class; ``token_drop`` replaces labels by the null
    class with probability ``dropout_prob`` during training, which is what lets one network give
    both the conditional and the unconditional prediction that classifier-free guidance mixes."""

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def token_drop(self, labels: torch.Tensor, generator: torch.Generator | None = None):
        drop = torch.rand(labels.shape[0], generator=generator, device="cpu").to(labels.device)
        return torch.where(drop < self.dropout_prob, torch.full_like(labels, self.num_classes), labels)

    def forward(self, labels: torch.Tensor, train: bool, generator: torch.Generator | None = None):
        if train and self.dropout_prob > 0:
            labels = self.token_drop(labels, generator)
        return self.embedding_table(labels)


# Wrap states a tile has along one axis; UNKNOWN is also the dropped ("null") state.
WRAP_NO, WRAP_YES, WRAP_UNKNOWN = 0, 1, 2


class WrapEmbedder(nn.Module):
    """Whether a tile wraps along x and along y, each one of ``WRAP_NO`` / ``WRAP_YES`` /
    ``WRAP_UNKNOWN``, embedded and added to the conditioning like the class. ``token_drop``
    sets each axis to unknown with probability ``dropout_prob`` in training, so the model also
    draws tiles without being told (ordinary sampling) and ``WRAP_YES`` can be asked for on
    its own axis (``--tileable x`` for walls). Zero-initialised: the condition starts as no-op."""

    def __init__(self, hidden_size: int, dropout_prob: float = 0.2):
        super().__init__()
        self.x_table = nn.Embedding(3, hidden_size)
        self.y_table = nn.Embedding(3, hidden_size)
        self.dropout_prob = dropout_prob

    def token_drop(self, wrap: torch.Tensor, generator: torch.Generator | None = None):
        drop = torch.rand(wrap.shape, generator=generator, device="cpu").to(wrap.device)
        return torch.where(drop < self.dropout_prob, torch.full_like(wrap, WRAP_UNKNOWN), wrap)

    def forward(self, wrap: torch.Tensor, train: bool, generator: torch.Generator | None = None):
        """``wrap``: (B, 2) long, columns x and y."""
        if train and self.dropout_prob > 0:
            wrap = self.token_drop(wrap, generator)
        return self.x_table(wrap[:, 0]) + self.y_table(wrap[:, 1])


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        x = F.scaled_dot_product_attention(q, k, v)  # fused kernel; no N×N matrix in Python
        return self.proj(rearrange(x, "b h n d -> b n (h d)"))


class ConvMLP(nn.Module):
    """The block's MLP with a depthwise 3×3 convolution over the token grid between its two
    linear layers (Mix-FFN, Xie et al. 2021): each token also sees its 8 neighbours' hidden
    features. Attention learns "next to" only through the position embedding, from data; the
    convolution builds it in for ~1 % of the block's FLOPs (on one CPU thread ~10 % of the time:
    depthwise convolutions use the matmul units poorly). Added as a zero-initialised residual, so
    at initialisation the block is exactly the plain MLP."""

    def __init__(self, hidden_size: int, mlp_hidden: int, grid: int, circular: bool = False):
        super().__init__()
        self.grid = grid
        self.fc1 = nn.Linear(hidden_size, mlp_hidden)
        self.act = nn.GELU(approximate="tanh")
        self.dwconv = nn.Conv2d(mlp_hidden, mlp_hidden, 3, padding=1, groups=mlp_hidden,
                                padding_mode="circular" if circular else "zeros")
        self.fc2 = nn.Linear(mlp_hidden, hidden_size)

    def forward(self, x):
        h = self.act(self.fc1(x))
        grid = rearrange(h, "b (gh gw) d -> b d gh gw", gh=self.grid)
        h = h + rearrange(self.dwconv(grid), "b d gh gw -> b (gh gw) d")
        return self.fc2(h)


class DiTBlock(nn.Module):
    """Transformer block whose LayerNorms are modulated by the conditioning (adaLN-Zero):
    shift/scale before attention and MLP, and a gate after each that starts at zero, so every
    block starts as the identity."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0,
                 conv_grid: int = 0, circular: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        mlp_hidden = int(hidden_size * mlp_ratio)
        if conv_grid:
            self.mlp = ConvMLP(hidden_size, mlp_hidden, conv_grid, circular)
        else:
            self.mlp = nn.Sequential(nn.Linear(hidden_size, mlp_hidden), nn.GELU(approximate="tanh"),
                                     nn.Linear(mlp_hidden, hidden_size))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = \
            self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        x = x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def sincos_pos_embed_2d(dim: int, grid: int) -> np.ndarray:
    """Fixed 2-D sine-cosine position embedding, (grid*grid, dim)."""
    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    gh, gw = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64),
                         indexing="ij")
    return np.concatenate([one_d(dim // 2, gh), one_d(dim // 2, gw)], axis=1)


def torus_pos_embed_2d(dim: int, grid: int) -> np.ndarray:
    """A periodic 2-D position embedding, (grid*grid, dim): per axis, sines of whole numbers of
    cycles per tile (1 .. grid/2, each at its own phase), so the last row is as near the first
    as any two neighbours. The network knows where in the tile a token is (a brick wall keeps
    its mortar lines where the data has them) and has no edge: a tile's wrap-around is one more
    place inside it."""
    def one_d(d, pos):
        m = np.arange(d, dtype=np.float64)
        cycles = 1 + m % max(grid // 2, 1)
        phase = m * 2.399963229728653          # the golden angle: no two channels alike
        return np.sin(2 * np.pi * np.outer(pos.reshape(-1), cycles) / grid + phase)

    gh, gw = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64),
                         indexing="ij")
    return np.concatenate([one_d(dim // 2, gh), one_d(dim - dim // 2, gw)], axis=1)


class DiT(nn.Module):
    """Predicts ε (or v) for a noisy input x_t given timestep t and class label y."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        if config.input_size % config.patch_size:
            raise ValueError(f"input size {config.input_size} is not divisible by patch size "
                             f"{config.patch_size}")
        if config.hidden_size % config.num_heads:
            raise ValueError(f"width {config.hidden_size} is not divisible by {config.num_heads} heads")
        self.config = config
        c, p, h = config.in_channels, config.patch_size, config.hidden_size
        self.grid = config.input_size // p
        # Space-to-depth stem: a stride-p convolution is exactly "flatten each p×p patch, then Linear".
        self.x_embedder = nn.Conv2d(c, h, kernel_size=p, stride=p)
        self.t_embedder = TimestepEmbedder(h)
        self.y_embedder = LabelEmbedder(config.num_classes, h, config.class_dropout)
        self.wrap_embedder = WrapEmbedder(h) if config.wrap_condition else None
        pos = torus_pos_embed_2d if config.wrap_condition else sincos_pos_embed_2d
        self.register_buffer("pos_embed", torch.from_numpy(
            pos(h, self.grid)).float().unsqueeze(0), persistent=False)
        conv_grid = self.grid if config.mlp_conv else 0
        self.blocks = nn.ModuleList([DiTBlock(h, config.num_heads, config.mlp_ratio, conv_grid,
                                              circular=config.wrap_condition)
                                     for _ in range(config.depth)])
        self.final_layer = FinalLayer(h, p, c)
        self.initialize_weights()

    def initialize_weights(self):
        def _basic_init(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        self.apply(_basic_init)
        w = self.x_embedder.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        if self.wrap_embedder is not None:
            nn.init.zeros_(self.wrap_embedder.x_table.weight)
            nn.init.zeros_(self.wrap_embedder.y_table.weight)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # adaLN-Zero: every block and the output start at zero.
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)
        for block in self.blocks:
            if isinstance(block.mlp, ConvMLP):
                nn.init.zeros_(block.mlp.dwconv.weight)
                nn.init.zeros_(block.mlp.dwconv.bias)

    def unpatchify(self, x):
        p, c = self.config.patch_size, self.config.in_channels
        return rearrange(x, "b (gh gw) (p1 p2 c) -> b c (gh p1) (gw p2)", gh=self.grid, p1=p, p2=p, c=c)

    def forward(self, x, t, y, wrap: torch.Tensor | None = None, train: bool = False,
                generator: torch.Generator | None = None):
        """x: (B, C, H, W), t: (B,) int timesteps, y: (B,) int labels (num_classes = null);
        ``wrap``: (B, 2) wrap states along x, y (``WRAP_*``) for a ``wrap_condition`` model
        (None: unknown), ignored by others."""
        x = rearrange(self.x_embedder(x), "b d gh gw -> b (gh gw) d") + self.pos_embed.to(x.dtype)
        c = self.t_embedder(t) + self.y_embedder(y, train and self.training, generator)
        if self.wrap_embedder is not None:
            if wrap is None:
                wrap = torch.full((len(y), 2), WRAP_UNKNOWN, dtype=torch.long, device=y.device)
            c = c + self.wrap_embedder(wrap, train and self.training, generator)
        for block in self.blocks:
            x = block(x, c)
        return self.unpatchify(self.final_layer(x, c))

    def flops_per_image(self) -> int:
        """Forward multiply-adds x2 per image (matmuls and convolutions), for sizing models to a CPU."""
        cfg = self.config
        n, d = cfg.num_tokens, cfg.hidden_size
        per_block = 2 * n * (4 * d * d + 2 * int(cfg.mlp_ratio) * d * d) + 2 * 2 * n * n * d
        if cfg.mlp_conv:
            per_block += 2 * n * 9 * int(cfg.mlp_ratio * d)
        return int(cfg.depth * per_block + 2 * n * d * cfg.patch_size ** 2 * cfg.in_channels * 2)


def build_dit(preset: str | None = None, **overrides) -> DiT:
    """Build a DiT from a preset name plus explicit fields (explicit fields win)."""
    if preset and preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    fields = dict(PRESETS[preset]) if preset else {}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return DiT(DiTConfig(**fields))
