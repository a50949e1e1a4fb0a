"""The autoencoder's YAML config (``configs/ae-*.yaml``) as dataclasses.

Loaded by the generic ``config_loader`` like the diffusion config, so unknown keys are errors with
a suggestion and each field's choices and range are checked on the way in; ``check_config`` adds
the checks between fields. The ``data:`` section is a ``DataSpec`` plus augmentation, the
``train:`` section the shared ``TrainSection`` because the same loop trains both stages. A model
directory's ``config.json`` reads back with ``config_loader.from_saved(AEConfig, saved)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ldm_sprites.config_loader import bounded, check_values, choice
from ldm_sprites.data.spec import DataSpec, size_field
from ldm_sprites.errors import UserError
from ldm_sprites.train_section import TrainSection

QUANTIZERS = ("vq", "fsq", "kl")
DOWNSAMPLES = (2, 4, 8)


@dataclass
class AEModelSection:
    # kl: continuous latents (best PSNR); vq / fsq: discrete codes
    quantizer: str = choice("kl", *QUANTIZERS)
    # f: 64x64 sprites -> 16x16 latents (64 DiT tokens at patch 2)
    downsample: int = choice(4, *DOWNSAMPLES)
    # C of the latent; 4 at f=4 keeps a 4x compression of RGBA
    latent_channels: int = bounded(4, ge=1, name="model.latent_channels")
    stem: int = 2                    # space-to-depth factor: no conv ever runs at full resolution
    channels: int = 64               # width after the stem; doubles at each further downsampling
    max_mult: int = 4                # cap of that doubling (f=8 would otherwise get very wide)
    res_blocks: int = 2              # residual blocks per resolution level
    # group: GroupNorm; channel: per-position LayerNorm (crop-safe)
    norm: str = choice("group", "group", "channel")
    # KL: weight of the per-element KL(q(z|x) || N(0, I)) against the per-pixel reconstruction.
    kl_weight: float = 1.0e-5        # small: a near-deterministic AE; the scale factor fixes the std
    # Train the decoder on z + s * std(z) * N(0, I) with s ~ U(0, latent_noise) per sprite, so
    # that latents a little off the encoder's (what a diffusion model samples) still decode to
    # flat colours and crisp edges instead of speckle. 0 = off (a plain AE).
    latent_noise: float = bounded(0.0, ge=0, le=2, name="model.latent_noise",
                                  hint="(a fraction of the latent's standard deviation; 0.2-0.5 "
                                       "is typical)")
    # VQ (vector-quantize-pytorch VectorQuantize)
    codebook_size: int = 1024
    vq_heads: int = 1                # >1: split C into heads with separate codebooks (more bits)
    commitment_weight: float = 0.25  # VQ-VAE's beta
    codebook_decay: float = 0.95     # EMA codebook update; lower than 0.99 because runs are short
    dead_code_threshold: float = 2.0  # codes with EMA usage below this are re-seeded from the batch
    kmeans_init: bool = True         # first batch initialises the codebook by k-means
    # FSQ (vector-quantize-pytorch FSQ): levels per latent channel, product = implicit codebook
    fsq_levels: list[int] = field(default_factory=lambda: [8, 5, 5, 5])
    # rgb: the decoder regresses premultiplied RGBA. palette: it chooses, per pixel, one colour of
    # ``palette`` or transparent (autoencoder/palette_head.py): raw output in-palette with alpha 0
    # or 255 by construction, where regression leaves jitter and soft edges on sampled latents.
    output: str = choice("rgb", "rgb", "palette")
    # "#rrggbb" colours for output: palette; empty = the training data's palette (finish.palette),
    # plus its soft "#rrggbbaa" colours when the data has shadows or glows
    palette: list[str] = field(default_factory=list)
    # With an empty ``palette``: at most this many of the data's colours, most used first (0: all,
    # up to 1,024). Each choice costs a logit per pixel: a 1,024-colour head trains ~4x slower than
    # a 256-colour one (docs/autoencoder.md).
    palette_size: int = bounded(0, ge=0, le=1024)
    # Start from this autoencoder's weights (a train-ae run or model directory); layers whose
    # shape differs (a new output head) start fresh.
    init_from: str | None = None
    # Train the decoder only. The encoder and scale factor stay those of ``init_from``, so the
    # latent space - and every diffusion model trained on it - stays valid with the new decoder.
    freeze_encoder: bool = False


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
    ce_weight: float = 1.0           # output: palette - cross-entropy against the nearest entry


@dataclass
class AEDataSection(DataSpec):
    """The spec (size, channels, resample, background) plus augmentation and the held-out split.
    ``label_column`` stays unset: the autoencoder learns every sprite, whatever its class."""

    size: int = size_field(64)
    flip: bool = True                # mirrored sprites are valid sprites
    shift: int = 0                   # max random translation (px): new phases against the patch grid
    crop: int = 0                    # >0: train on random crops this big around the sprite
                                     # (ignored when >= size: whole canvases)
    # share of sprites held out for PSNR / IoU (seeded split)
    holdout: float = bounded(0.1, ge=0, lt=0.9, name="data.holdout")
    max_bad_fraction: float = 0.1


@dataclass
class AEConfig:
    model: AEModelSection = field(default_factory=AEModelSection)
    loss: AELossSection = field(default_factory=AELossSection)
    data: AEDataSection = field(default_factory=AEDataSection)
    train: TrainSection = field(default_factory=lambda: TrainSection(
        steps=4000, batch_size=32, lr=1e-3, warmup_steps=100, ema_decay=0.999,
        checkpoint_every=1000, sample_every=500, log_every=25))


# A palette head's choices: a model palette (finish.palette.MAX_MODEL_COLORS) plus its soft colours.
MAX_HEAD_COLORS = 1024 + 64


def check_config(cfg: AEConfig) -> AEConfig:
    """Value checks that the dataclass types cannot express."""
    check_values(cfg)
    m, d = cfg.model, cfg.data
    if m.stem < 1 or m.downsample % m.stem or (m.downsample // m.stem) & (m.downsample // m.stem - 1):
        raise UserError(f"model.stem {m.stem} must divide --downsample {m.downsample} "
                        "(with a power-of-two quotient)")
    if d.size % m.downsample:
        raise UserError(f"--size {d.size} is not divisible by --downsample {m.downsample}")
    if d.label_column is not None:
        raise UserError("data.label_column: the autoencoder learns every sprite whatever its "
                        "class; leave it out")
    if m.quantizer == "fsq":
        levels = m.fsq_levels
        if not isinstance(levels, list) or not levels or \
                not all(isinstance(v, int) and v >= 2 for v in levels):
            raise UserError(f"model.fsq_levels must be a list of whole numbers >= 2, got {levels!r}")
    if m.quantizer == "vq" and m.latent_channels % m.vq_heads:
        raise UserError(f"model.latent_channels {m.latent_channels} must be divisible by "
                        f"model.vq_heads {m.vq_heads}")
    if d.crop and (d.crop < 0 or d.crop % m.downsample):
        raise UserError(f"data.crop {d.crop} must be a multiple of --downsample {m.downsample} "
                        "(0: whole sprites)")
    if m.freeze_encoder and not m.init_from:
        raise UserError("model.freeze_encoder needs model.init_from (--init-from): the autoencoder "
                        "whose encoder to keep")
    if len(m.palette) > MAX_HEAD_COLORS:
        raise UserError(f"model.palette holds {len(m.palette)} colours; at most {MAX_HEAD_COLORS}")
    bad = [c for c in m.palette if not re.fullmatch(r"#?([0-9a-fA-F]{2}){3,4}", str(c))]
    if bad:
        raise UserError(f"model.palette: {str(bad[0])!r} is not a colour; write '#rrggbb' "
                        "(or '#rrggbbaa' for a soft one)")
    if d.shift < 0 or d.shift >= d.size // 2:
        raise UserError(f"data.shift {d.shift} must be in [0, {d.size // 2})")
    return cfg
