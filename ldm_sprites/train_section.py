"""The ``train:`` section both stages share: the generic training loop reads it, and the
diffusion and autoencoder schemas each contain one (with their own defaults). It sits at the
bottom, beside the config loader, because both stages' packages sit below ``training``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ldm_sprites.config_loader import bounded, choice


@dataclass
class TrainSection:
    steps: int = bounded(2000, ge=1, name="--steps")
    batch_size: int = bounded(64, ge=1, name="--batch-size")
    lr: float = bounded(3e-4, gt=0, lt=1, name="--lr", hint="(typical values are 1e-4 to 1e-3)")
    warmup_steps: int = 100
    # Share of the run at its end over which the LR falls linearly to 0 (a "cooldown", as in
    # warmup-stable-decay schedules); 0: none. Follows a --time-budget's planned step count.
    cooldown: float = bounded(0.0, ge=0, lt=1, name="train.cooldown")
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


def cooldown_factor(cfg: TrainSection, step: int) -> float:
    """1, then a linear fall to 0 over the last ``cfg.cooldown`` share of ``cfg.steps``."""
    span = cfg.cooldown * cfg.steps
    if span < 1:
        return 1.0
    return min(1.0, max(0.0, (cfg.steps - step) / span))


def warmup_constant(cfg: TrainSection) -> Callable[[int], float]:
    """The LR multiplier per step: linear warm-up, constant, then the optional cooldown. Reads
    ``cfg`` at every call: a time budget re-plans ``steps`` (and may shorten the warm-up)."""
    def f(step: int) -> float:
        return min(1.0, (step + 1) / max(1, cfg.warmup_steps)) * cooldown_factor(cfg, step)
    return f
