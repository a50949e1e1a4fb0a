"""The ``train:`` section both stages share: the generic training loop reads it, and the
diffusion and autoencoder schemas each contain one (with their own defaults). It sits at the
bottom, beside the config loader, because both stages' packages sit below ``training``."""

from __future__ import annotations

from dataclasses import dataclass

from ldm_sprites.config_loader import bounded, choice


@dataclass
class TrainSection:
    steps: int = bounded(2000, ge=1, name="--steps")
    batch_size: int = bounded(64, ge=1, name="--batch-size")
    lr: float = bounded(3e-4, gt=0, lt=1, name="--lr", hint="(typical values are 1e-4 to 1e-3)")
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    mixed_precision: str = choice("no", "no", "bf16", "fp16")  # GPU only; fp32 is faster on CPUs
    checkpoint_every: int = bounded(500, ge=1)
    sample_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 2
    compile: bool = False            # torch.compile: small gain on CPU (~5 %), minutes to compile
