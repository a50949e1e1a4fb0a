"""The contract between the training loop (``trainer.train``) and a model-specific task.

A task supplies what differs between the two stages — the model, the loss of one batch, what a
checkpoint's ``config.json`` records and the preview grid; the loop owns everything else (optimiser,
schedule, EMA, logging, checkpoints, resume, time budget, several processes).

``Task`` is a ``typing.Protocol``. Both stages' tasks, ``autoencoder.task.AutoencoderTask`` and
``diffusion.task.DiffusionTask``, implement every member: they live below ``training`` in the
layers and do not import it. A task defined above it may instead subclass ``Task`` and inherit the
documented defaults of the optional hooks. The loop calls every hook unconditionally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import torch

from ldm_sprites.train_section import warmup_constant


@runtime_checkable
class Task(Protocol):
    name: str                        # shown on the progress bar ("diffusion", "autoencoder")
    model: torch.nn.Module           # what is optimised; built after ``seed_everything``
    classes: list[str]               # class names, id order (empty: unconditional)
    batch_size: int                  # sprites per step and process (throughput, time budget)
    # ``{file name: bytes}`` copied into every checkpoint (the training set's palette,
    # ``finish.palette.training_palette_files``), or None.
    model_files: dict[str, bytes] | None = None

    # -- required ---------------------------------------------------------------------------------

    def loss(self, model: torch.nn.Module,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One training batch drawn with ``generator`` -> (loss, {name: value to log}).
        ``model`` is the (possibly compiled, DDP-wrapped) ``self.model``."""
        ...

    def config_dict(self) -> dict:
        """What every checkpoint's ``config.json`` records besides ``train`` and ``step``."""
        ...

    def preview(self, ema_model: torch.nn.Module, step: int, path: Path) -> None:
        """Write a PNG grid to ``path`` every ``train.sample_every`` steps (main process only)."""
        ...

    # -- optional: the defaults below are what the loop gets from a subclass ----------------------

    def to(self, device) -> "Task":
        """Move the task's data (and extra parts) to the training device. Default: nothing."""
        return self

    def lr_lambda(self, cfg) -> Callable[[int], float]:
        """The LR multiplier per step; must read ``cfg`` at every call (a time budget changes
        ``cfg.steps``). Default: ``warmup_constant``."""
        return warmup_constant(cfg)

    def epoch_at(self, step: int) -> float | None:
        """Epochs after ``step`` batches (logged). Default: None."""
        return None

    def after_step(self, step: int, accelerator) -> None:
        """Runs after each optimiser step (the autoencoder's discriminator). Default: nothing."""

    def on_checkpoint(self, ema_model: torch.nn.Module, step: int) -> None:
        """Runs before each checkpoint is written, so values ``config_dict`` saves can be
        refreshed (the autoencoder's latent scale). Default: nothing."""

    def extra_state(self) -> dict | None:
        """Task-owned training state for exact ``--resume`` (saved when not None). Default: None."""
        return None

    def load_extra_state(self, state: dict, checkpoint) -> None:
        """Restore what ``extra_state`` returned; ``checkpoint`` is the resumed model directory
        (a ``ModelDir``), for state the task wrote as a file of its own (``model_files``)
        rather than twice. Default: nothing."""
