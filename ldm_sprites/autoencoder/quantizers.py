"""One bottleneck interface over the three latent types.

* ``kl``  – diagonal Gaussian posterior (LDM's "KL-f4"): the encoder predicts mean and log-variance,
  training samples z = mean + std * eps, a small KL term keeps the posterior near N(0, I).
* ``vq``  – ``vector_quantize_pytorch.VectorQuantize``: EMA codebook, k-means init on the first batch,
  dead codes re-seeded from the batch, commitment loss; straight-through gradients.
* ``fsq`` – ``vector_quantize_pytorch.FSQ``: each channel rounded to a few levels, no codebook to
  collapse and no auxiliary loss.

Every bottleneck returns a ``BottleneckOutput``: the latent the decoder sees, the (weighted) auxiliary
loss and the statistics the trainer logs (KL, or code indices for usage / perplexity).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from ldm_sprites.autoencoder.config import AEModelSection

# Elements of one (heads, positions, codes) distance block in ``VQBottleneck.indices``: 256 Ki
# floats (1 MB) stay in cache and their memory is reused, where a whole batch's block is a fresh
# allocation of 100+ MB per operation. On one CPU thread 1 MB blocks were ~3x faster than 4 MB.
DISTANCE_BLOCK = 1 << 18


@dataclass
class BottleneckOutput:
    z: torch.Tensor                       # what the decoder sees (N, C, h, w)
    loss: torch.Tensor                    # weighted auxiliary loss (commitment / KL), scalar
    kl: torch.Tensor | None = None        # unweighted mean KL per latent element
    indices: torch.Tensor | None = None   # code ids (N, h, w) or (N, h, w, groups)
    logits: torch.Tensor | None = None    # palette head's per-pixel logits (Autoencoder.forward)


class GaussianBottleneck(nn.Module):
    kind = "kl"
    groups = 1

    def __init__(self, cfg: AEModelSection):
        super().__init__()
        self.latent_channels = cfg.latent_channels
        self.in_channels = 2 * cfg.latent_channels   # mean and log-variance
        self.kl_weight = cfg.kl_weight

    def _moments(self, h):
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)   # LDM's bounds: keeps exp() finite

    def forward(self, h, generator: torch.Generator | None = None) -> BottleneckOutput:
        mean, logvar = self._moments(h)
        std = torch.exp(0.5 * logvar)
        # Noise from the trainer's CPU generator so CPU runs are bit-reproducible and resumable.
        eps = torch.randn(mean.shape, generator=generator).to(mean)
        z = mean + std * eps
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        return BottleneckOutput(z, self.kl_weight * kl, kl=kl.detach())

    def encode(self, h):
        return self._moments(h)[0]

    @property
    def codebook_size(self) -> int:
        return 0


class VQBottleneck(nn.Module):
    kind = "vq"

    def __init__(self, cfg: AEModelSection):
        super().__init__()
        from vector_quantize_pytorch import VectorQuantize

        self.in_channels = cfg.latent_channels
        self.groups = cfg.vq_heads   # separate codebook per head: ids are per group
        self.vq = VectorQuantize(
            dim=cfg.latent_channels, codebook_size=cfg.codebook_size,
            # One head: codebook in the latent space itself (no projection, so the quantised
            # vector *is* the latent the DiT learns). Several heads: C/heads dims each.
            codebook_dim=cfg.latent_channels // cfg.vq_heads, heads=cfg.vq_heads,
            separate_codebook_per_head=cfg.vq_heads > 1,
            decay=cfg.codebook_decay, kmeans_init=cfg.kmeans_init, kmeans_iters=10,
            threshold_ema_dead_code=cfg.dead_code_threshold,
            commitment_weight=cfg.commitment_weight, accept_image_fmap=True)

    @property
    def codebook_size(self) -> int:
        return self.vq.codebook_size

    def forward(self, h, generator: torch.Generator | None = None) -> BottleneckOutput:
        z, indices, commit = self.vq(h)
        return BottleneckOutput(z, commit.sum(), indices=indices)

    @torch.no_grad()
    def indices(self, h) -> torch.Tensor:
        """Nearest code ids (N, h, w, heads); (N, h, w) with one head — what ``self.vq(h)`` picks
        in eval mode, bit for bit.

        The library's forward materialises about ten (heads, positions, codes) tensors per call
        (distances, clamp, sqrt, negation, one-hot, ...): 134 MB each for 32 sprites at 64 px, which
        made encoding with 16 x 256 codes ~7x slower than the encoder and decoder together on a
        CPU. Here the same distance formula runs over blocks of positions that stay in cache.
        """
        cb = self.vq.codebook.float()
        cb = cb if cb.ndim == 3 else cb.unsqueeze(0)                  # (heads, codes, d)
        n, _, y, x = h.shape
        flat = rearrange(h.float(), "n (g d) y x -> g (n y x) d", g=cb.shape[0])
        y2 = cb.pow(2).sum(-1).unsqueeze(1)                           # (heads, 1, codes)
        rows = max(1, DISTANCE_BLOCK // (cb.shape[0] * cb.shape[1]))
        ids = []
        for part in flat.split(rows, dim=1):
            # vector_quantize_pytorch.cdist's formula and op order, so ties resolve the same way
            d = part.pow(2).sum(-1, keepdim=True) + y2 + torch.bmm(part, cb.transpose(1, 2)) * -2
            ids.append((-d.clamp(min=1e-8).sqrt()).argmax(-1))
        ids = torch.cat(ids, dim=1)                                   # (heads, N*y*x)
        if cb.shape[0] == 1:
            return ids.reshape(n, y, x)
        return rearrange(ids, "g (n y x) -> n y x g", n=n, y=y, x=x)

    def encode(self, h):
        return self.vq.get_output_from_indices(self.indices(h)).to(h.dtype)


class FSQBottleneck(nn.Module):
    kind = "fsq"

    def __init__(self, cfg: AEModelSection):
        super().__init__()
        from vector_quantize_pytorch import FSQ

        self.in_channels = cfg.latent_channels
        # latent_channels = k * len(levels): k independent groups of channels, each rounded to the
        # levels (FSQ's num_codebooks), so the rounded values *are* the latent and the bits per
        # position grow with the channels. Otherwise FSQ projects to len(levels) dims and back.
        levels, c = list(cfg.fsq_levels), cfg.latent_channels
        self.groups = c // len(levels) if c % len(levels) == 0 else 1
        self.fsq = FSQ(levels=levels, dim=c, num_codebooks=self.groups)

    @property
    def codebook_size(self) -> int:
        return int(self.fsq.codebook_size)

    def forward(self, h, generator: torch.Generator | None = None) -> BottleneckOutput:
        z, indices = self.fsq(h)
        return BottleneckOutput(z, h.new_zeros(()), indices=indices)

    @torch.no_grad()
    def indices(self, h) -> torch.Tensor:
        return self.fsq(h)[1]

    def encode(self, h):
        return self.fsq(h)[0]


BOTTLENECKS = {"kl": GaussianBottleneck, "vq": VQBottleneck, "fsq": FSQBottleneck}


def build_bottleneck(cfg: AEModelSection) -> nn.Module:
    return BOTTLENECKS[cfg.quantizer](cfg)
