"""The autoencoder's YAML config (``configs/ae-*.yaml``) as dataclasses.

Loaded with ``ldm_sprites.config.from_dict`` like the diffusion config, so unknown keys are errors
with a suggestion; the ``train:`` section *is* the diffusion trainer's ``TrainSection`` because the
same loop trains both stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ldm_sprites.config import TrainSection
from ldm_sprites.errors import UserError

QUANTIZERS = ("vq", "fsq", "kl")
DOWNSAMPLES = (2, 4, 8)


@dataclass
class AEModelSection:
    quantizer: str = "kl"            # kl: continuous latents (best PSNR); vq / fsq: discrete codes
    downsample: int = 4              # f: 64x64 sprites -> 16x16 latents (64 DiT tokens at patch 2)
    latent_channels: int = 4         # C of the latent; 4 at f=4 keeps a 4x compression of RGBA
    stem: int = 2                    # space-to-depth factor: no conv ever runs at full resolution
    channels: int = 64               # width after the stem; doubles at each further downsampling
    max_mult: int = 4                # cap of that doubling (f=8 would otherwise get very wide)
    res_blocks: int = 2              # residual blocks per resolution level
    norm: str = "group"              # group: GroupNorm; channel: per-position LayerNorm (crop-safe)
    # KL: weight of the per-element KL(q(z|x) || N(0, I)) against the per-pixel reconstruction.
    kl_weight: float = 1.0e-5        # small: a near-deterministic AE; the scale factor fixes the std
    # Train the decoder on z + s * std(z) * N(0, I) with s ~ U(0, latent_noise) per sprite, so
    # that latents a little off the encoder's (what a diffusion model samples) still decode to
    # flat colours and crisp edges instead of speckle. 0 = off (a plain AE).
    latent_noise: float = 0.0
    # VQ (vector-quantize-pytorch VectorQuantize)
    codebook_size: int = 1024
    vq_heads: int = 1                # >1: split C into heads with separate codebooks (more bits)
    commitment_weight: float = 0.25  # VQ-VAE's beta
    codebook_decay: float = 0.95     # EMA codebook update; lower than 0.99 because runs are short
    dead_code_threshold: float = 2.0  # codes with EMA usage below this are re-seeded from the batch
    kmeans_init: bool = True         # first batch initialises the codebook by k-means
    # FSQ (vector-quantize-pytorch FSQ): levels per latent channel, product = implicit codebook
    fsq_levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])


@dataclass
class AELossSection:
    l1_weight: float = 1.0           # L1 keeps flat pixel-art colours sharp ...
    mse_weight: float = 1.0          # ... MSE is what PSNR measures
    alpha_weight: float = 1.0        # L1 + MSE on the alpha channel (RGBA only)
    transparent_weight: float = 0.1  # colour weight where the input is transparent (premult = -1)
    gan_weight: float = 0.0          # patch-GAN hinge loss weight (0 = off; VQGAN uses ~0.1)
    gan_start: int = 2000            # step that switches the GAN on (after reconstruction warm-up)
    disc_channels: int = 32
    disc_layers: int = 2             # stride-2 convs: 64x64 input -> 16x16 patch logits
    disc_lr: float = 2.0e-4


@dataclass
class AEDataSection:
    size: int = 64
    channels: int = 4
    resample: str = "nearest"
    background: str = "#ffffff"
    flip: bool = True                # mirrored sprites are valid sprites
    shift: int = 0                   # max random translation (px): new phases against the patch grid
    crop: int = 0                    # >0: train on random crops this big around the sprite
                                     # (ignored when >= size: whole canvases)
    holdout: float = 0.1             # share of sprites held out for PSNR / IoU (seeded split)
    max_bad_fraction: float = 0.1


@dataclass
class AEConfig:
    model: AEModelSection = field(default_factory=AEModelSection)
    loss: AELossSection = field(default_factory=AELossSection)
    data: AEDataSection = field(default_factory=AEDataSection)
    train: TrainSection = field(default_factory=lambda: TrainSection(
        steps=4000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.999,
        checkpoint_every=1000, sample_every=500, log_every=25))


def check_config(cfg: AEConfig) -> AEConfig:
    """Value checks that the dataclass types cannot express."""
    m, d = cfg.model, cfg.data
    if m.quantizer not in QUANTIZERS:
        raise UserError(f"model.quantizer '{m.quantizer}' is not one of {', '.join(QUANTIZERS)}")
    if m.downsample not in DOWNSAMPLES:
        raise UserError(f"--downsample {m.downsample} is not supported; use 2, 4 or 8")
    if m.stem < 1 or m.downsample % m.stem or (m.downsample // m.stem) & (m.downsample // m.stem - 1):
        raise UserError(f"model.stem {m.stem} must divide --downsample {m.downsample} "
                        "(with a power-of-two quotient)")
    if d.size % m.downsample:
        raise UserError(f"--size {d.size} is not divisible by --downsample {m.downsample}")
    if m.latent_channels < 1:
        raise UserError("model.latent_channels must be at least 1")
    if not 0 <= m.latent_noise <= 2:
        raise UserError(f"model.latent_noise {m.latent_noise} must be in [0, 2] (a fraction of "
                        "the latent's standard deviation; 0.2-0.5 is typical)")
    if m.quantizer == "fsq":
        levels = m.fsq_levels
        if not isinstance(levels, list) or not levels or \
                not all(isinstance(v, int) and v >= 2 for v in levels):
            raise UserError(f"model.fsq_levels must be a list of whole numbers >= 2, got {levels!r}")
    if m.quantizer == "vq" and m.latent_channels % m.vq_heads:
        raise UserError(f"model.latent_channels {m.latent_channels} must be divisible by "
                        f"model.vq_heads {m.vq_heads}")
    if m.norm not in ("group", "channel"):
        raise UserError(f"model.norm '{m.norm}' is not one of group, channel")
    if d.crop and (d.crop < 0 or d.crop % m.downsample):
        raise UserError(f"data.crop {d.crop} must be a multiple of --downsample {m.downsample} "
                        "(0: whole sprites)")
    if d.shift < 0 or d.shift >= d.size // 2:
        raise UserError(f"data.shift {d.shift} must be in [0, {d.size // 2})")
    if not 0 <= d.holdout < 0.9:
        raise UserError(f"data.holdout {d.holdout} must be in [0, 0.9)")
    return cfg
