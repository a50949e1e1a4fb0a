"""The autoencoder training task for the shared trainer (``training.trainer.train``).

Per step: a batch of sprites (uint8 on the device, converted and flipped per batch), encode,
bottleneck, decode, alpha-weighted reconstruction loss + bottleneck loss (+ patch-GAN generator loss
after ``loss.gan_start``). The discriminator is a task-owned part with its own optimiser, updated in
``after_step`` and checkpointed through ``extra_state`` so ``--resume`` stays exact.

At every checkpoint (``on_checkpoint``) the EMA model encodes the training sprites to compute the
latent scale factor (1 / std, so that scaled latents have unit variance, as LDM does) and evaluates
the held-out split; both go into the checkpoint's ``config.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch

from ldm_sprites.autoencoder import metrics
from ldm_sprites.autoencoder.config import AEConfig
from ldm_sprites.autoencoder.latents import map_batches
from ldm_sprites.autoencoder.losses import (PatchDiscriminator, hinge_d_loss, hinge_g_loss,
                                            reconstruction_loss)
from ldm_sprites.autoencoder.model import Autoencoder
from ldm_sprites.autoencoder.palette_head import palette_loss
from ldm_sprites.console import info
from ldm_sprites.errors import UserError
from ldm_sprites.data.tensors import augment, rgba_uint8_to_model
from ldm_sprites.train_section import cooldown_factor

EVAL_FILE = "eval.jsonl"
PREVIEW_SPRITES = 16


def holdout_split(n: int, share: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic (train ids, held-out ids) for ``n`` sprites."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_hold = int(round(n * share)) if share > 0 else 0
    n_hold = min(n_hold, n - 1)
    return perm[n_hold:].sort().values, perm[:n_hold].sort().values


class AutoencoderTask:
    """The trainer's ``training.task.Task`` for stage one, every hook implemented (this package
    sits below ``training``, so it satisfies the protocol without importing it)."""

    name = "autoencoder"

    def __init__(self, cfg: AEConfig, images: torch.Tensor, data_dir: str | None = None):
        """``images``: (N, 4, H, W) uint8 straight RGBA, all sprites (the split happens here);
        ``data_dir`` is recorded so that the held-out split can be evaluated again later."""
        self.cfg = cfg
        self.data_dir = str(Path(data_dir).resolve()) if data_dir else None
        self.classes: list[str] = []
        self.model_files: dict[str, bytes] | None = None   # palette files for checkpoints
        self.train_ids, self.holdout_ids = holdout_split(images.shape[0], cfg.data.holdout,
                                                         cfg.train.seed)
        self.images = images
        # On the CPU batches are gathered from ``images`` (possibly a memory map of the data
        # cache) through ``train_ids``: no copy of the training split; ``to()`` makes one on a GPU.
        self.train_images = None
        self.boxes = content_boxes(images, self.train_ids)   # where random crops are centred
        self.model = Autoencoder(cfg.model, cfg.data.channels)
        # Frozen encoder: the source's, kept (same latents; encoder_hash then matches the source's).
        self.source_scale_factor: float | None = None
        if cfg.model.init_from:
            self._start_from(cfg.model.init_from, cfg.model.freeze_encoder)
        self.batch_size = cfg.train.batch_size
        self.n = int(self.train_ids.numel())
        self.device = torch.device("cpu")
        self.step = 0
        self.scale_factor: float | None = None
        self.heldout_metrics: dict = {}
        self._eval_step = -1
        L = cfg.loss
        self.use_gan = L.gan_weight > 0
        self.disc = self.disc_opt = None
        self._pending_disc_state = None
        self._last_pair = None
        if self.use_gan:
            self.disc = PatchDiscriminator(cfg.data.channels, L.disc_channels, L.disc_layers)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=L.disc_lr, betas=(0.5, 0.9))

    # -- trainer hooks --------------------------------------------------------------------------

    def to(self, device):
        self.device = torch.device(device)
        self.train_images = None if self.device.type == "cpu" else \
            self.images[self.train_ids].to(device)
        if self.disc is not None:
            self.disc.to(device)
            if self._pending_disc_state is not None:
                # Optimiser state is loaded after the move so its tensors land on the device.
                self.disc_opt.load_state_dict(self._pending_disc_state)
                self._pending_disc_state = None
        return self

    def lr_lambda(self, cfg):
        """Linear warm-up, then cosine decay to 10 % (and ``train.cooldown``'s fall to 0 on top):
        the last PSNR dB come from the low-LR tail.
        Reads ``cfg`` at every call, so a time budget's planned step count moves the decay."""
        def f(step: int) -> float:
            warmup, total = max(1, cfg.warmup_steps), max(1, cfg.steps)
            if step < warmup:
                return (step + 1) / warmup
            t = min(1.0, (step - warmup) / max(1, total - warmup))
            return (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * t))) * cooldown_factor(cfg, step)
        return f

    def config_dict(self) -> dict:
        c = self.cfg
        return {"kind": "autoencoder", "model": asdict(c.model), "loss": asdict(c.loss),
                "data": asdict(c.data), "scale_factor": self.scale_factor,
                "latent_shape": [c.model.latent_channels, c.data.size // c.model.downsample,
                                 c.data.size // c.model.downsample],
                "holdout_ids": self.holdout_ids.tolist(), "heldout_metrics": self.heldout_metrics,
                "data_dir": self.data_dir}

    def epoch_at(self, step: int) -> float:
        return round(step * self.batch_size / max(1, self.n), 3)

    def gan_active(self) -> bool:
        return self.use_gan and self.step >= self.cfg.loss.gan_start

    def loss(self, model, generator: torch.Generator):
        d = self.cfg.data
        idx = torch.randint(self.n, (self.batch_size,), generator=generator)
        imgs = self.images[self.train_ids[idx]] if self.train_images is None \
            else self.train_images[idx.to(self.device)]
        if 0 < d.crop < d.size:
            imgs = random_crops(imgs, self.boxes[idx], d.crop, generator)
        x = augment(rgba_uint8_to_model(imgs, d.channels), generator, flip=d.flip, shift=d.shift)
        x_hat, out = model(x, generator)
        loss, logs = reconstruction_loss(x_hat.float(), x, self.cfg.loss)
        loss = loss + out.loss
        if out.logits is not None:
            ce = palette_loss(out.logits, x, self.model.head)
            loss = loss + self.cfg.loss.ce_weight * ce
            logs["ce"] = ce.detach()
        logs["psnr"] = metrics.batch_psnr(x_hat, x)
        if d.channels == 4:
            logs["alpha_iou"] = metrics.batch_alpha_iou(x_hat, x)
        if out.kl is not None:
            logs["kl"] = out.kl
        if out.indices is not None:
            logs.update(metrics.code_usage(self._flat_indices(out.indices), self._n_codes()))
            logs["commit"] = out.loss.detach()
        if self.gan_active():
            self.disc.requires_grad_(False)   # generator pass: no discriminator gradients
            g = hinge_g_loss(self.disc(x_hat))
            self.disc.requires_grad_(True)
            loss = loss + self.cfg.loss.gan_weight * g
            logs["g_loss"] = g.detach()
            self._last_pair = (x.detach(), x_hat.detach())
        return loss, logs

    def after_step(self, step: int, accelerator) -> None:
        self.step = step + 1
        if self._last_pair is None:
            return
        real, fake = self._last_pair
        self._last_pair = None
        self.disc_opt.zero_grad(set_to_none=True)
        d_loss = hinge_d_loss(self.disc(real), self.disc(fake))
        d_loss.backward()
        self.disc_opt.step()

    def extra_state(self) -> dict:
        state = {"step": self.step, "scale_factor": self.scale_factor}
        if self.disc is not None:
            state["disc"] = self.disc.state_dict()
            state["disc_opt"] = self.disc_opt.state_dict()
        return state

    def load_extra_state(self, state: dict, checkpoint) -> None:
        self.step = int(state.get("step", 0))
        self.scale_factor = state.get("scale_factor")
        if self.disc is not None and "disc" in state:
            self.disc.load_state_dict(state["disc"])
            self._pending_disc_state = state["disc_opt"]

    def on_checkpoint(self, ema_model, step: int) -> None:
        """Refresh the scale factor and held-out metrics that the checkpoint's config records."""
        self.scale_factor = self.compute_scale_factor(ema_model)
        self.evaluate(ema_model, step)

    @torch.no_grad()
    def preview(self, ema_model, step: int, path: Path) -> None:
        """Grid of (input | reconstruction) pairs of held-out sprites; logs held-out metrics."""
        from ldm_sprites.data.tensors import model_to_rgba_uint8
        from ldm_sprites.image_files import make_grid, save_png

        result = self.evaluate(ema_model, step)
        ids = self.holdout_ids if len(self.holdout_ids) else self.train_ids
        imgs = self.images[ids[:PREVIEW_SPRITES]]
        x_hat = map_batches(lambda x: ema_model.decode(ema_model.encode(x)), imgs,
                            self.cfg.data.channels, self._device_of(ema_model))
        x = rgba_uint8_to_model(imgs, self.cfg.data.channels)
        pairs = torch.stack([x, x_hat.clamp(-1, 1)], 1).flatten(0, 1)   # input, recon, input, ...
        scale = max(1, min(4, 128 // imgs.shape[-1]))
        save_png(path, make_grid(model_to_rgba_uint8(pairs), nrow=8, scale=scale))
        with open(path.parent.parent / EVAL_FILE, "a") as fh:
            fh.write(json.dumps({"step": step, **result}) + "\n")

    # -- evaluation -----------------------------------------------------------------------------

    @staticmethod
    def _device_of(model) -> torch.device:
        return next(model.parameters()).device

    def _n_codes(self) -> int:
        """Codes over all groups (VQ heads / FSQ codebooks), each group with its own ids."""
        return self.model.bottleneck.codebook_size * self.model.bottleneck.groups

    def _flat_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Several groups: offset each group's ids so all groups share one histogram."""
        groups = self.model.bottleneck.groups
        if groups > 1 and indices.shape[-1] == groups:
            offs = torch.arange(groups, device=indices.device) * self.model.bottleneck.codebook_size
            indices = indices + offs
        return indices

    def _start_from(self, path: str, freeze_encoder: bool) -> None:
        """Load an autoencoder's weights (EMA) where shapes match; freeze its encoder if asked."""
        from ldm_sprites.modeldir import load_model_dir

        md = load_model_dir(path, expect_kind="autoencoder")
        src, own = md.weights("ema"), self.model.state_dict()
        same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        self.model.load_state_dict(same, strict=False)
        fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in same})
        info(f"started from {md.path}" + (f"; new: {', '.join(fresh)}" if fresh else ""))
        if not freeze_encoder:
            return
        if fresh and any(k.startswith(("encoder.", "bottleneck.")) for k in fresh):
            raise UserError(f"--freeze-encoder: the encoder of {md.path} does not fit this config "
                            "(keep model.quantizer, downsample, latent_channels, stem, channels)")
        self.model.encoder.requires_grad_(False)
        self.model.bottleneck.requires_grad_(False)
        self.source_scale_factor = md.config.get("scale_factor")

    @torch.no_grad()
    def compute_scale_factor(self, ema_model) -> float:
        if self.source_scale_factor is not None:
            return float(self.source_scale_factor)   # same latents as the source: same scaling
        z = map_batches(ema_model.encode, self.images[self.train_ids], self.cfg.data.channels,
                        self._device_of(ema_model))
        return float(1.0 / z.float().std().clamp_min(1e-8))

    @torch.no_grad()
    def evaluate(self, ema_model, step: int) -> dict:
        """Held-out PSNR / alpha IoU (+ codebook usage of the held-out codes). Cached per step."""
        if self._eval_step == step:
            return self.heldout_metrics
        ids = self.holdout_ids if len(self.holdout_ids) else self.train_ids
        result = evaluate_reconstruction(ema_model, self.images[ids], self.cfg.data.channels,
                                         self._device_of(ema_model))
        result["split"] = "heldout" if len(self.holdout_ids) else "train"
        result["n"] = int(len(ids))
        if self.cfg.model.quantizer in ("vq", "fsq"):
            idx = self._codes(ema_model, self.images[self.train_ids])
            usage = metrics.code_usage(self._flat_indices(idx), self._n_codes())
            result.update({"train_code_usage": round(usage["usage"].item(), 4),
                           "train_code_perplexity": round(usage["perplexity"].item(), 1),
                           "codebook_size": self._n_codes()})
        self.heldout_metrics, self._eval_step = result, step
        info(f"step {step}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in result.items()))
        return result

    def _codes(self, ema_model, images: torch.Tensor) -> torch.Tensor:
        def fn(x):
            return ema_model.bottleneck.indices(ema_model.encoder(x))
        return map_batches(fn, images, self.cfg.data.channels, self._device_of(ema_model)).long()


def content_boxes(images: torch.Tensor, ids: torch.Tensor | None = None,
                  chunk: int = 4096) -> torch.Tensor:
    """(N, 4) long ``y0, y1, x0, x1`` of the visible pixels of each sprite (of ``images[ids]``
    when ``ids`` is given); the whole canvas if none. Works in chunks, without a copy of the set."""
    ids = torch.arange(images.shape[0]) if ids is None else ids
    h, w = images.shape[-2:]
    parts = []
    for i in range(0, len(ids), chunk):
        alpha = images[ids[i:i + chunk], 3].cpu() > 0
        rows, cols = alpha.any(2), alpha.any(1)                      # (n, h), (n, w)
        box = torch.stack([_first_true(rows), _past_last_true(rows),
                           _first_true(cols), _past_last_true(cols)], 1)
        empty = ~rows.any(1)
        box[empty] = torch.tensor([0, h, 0, w])
        parts.append(box.long())
    return torch.cat(parts) if parts else torch.zeros(0, 4, dtype=torch.long)


def _first_true(m: torch.Tensor) -> torch.Tensor:
    return m.float().argmax(1)


def _past_last_true(m: torch.Tensor) -> torch.Tensor:
    return m.shape[1] - m.flip(1).float().argmax(1)


def random_crops(images: torch.Tensor, boxes: torch.Tensor, size: int,
                 generator: torch.Generator) -> torch.Tensor:
    """One ``size`` x ``size`` crop per sprite, centred on a random point of its content box.

    Most of a sprite canvas is empty (83 % of the 4x4 patches of pokemon-sprites), so whole-canvas
    batches spend most of the autoencoder's compute on background; crops around the content spend
    it on the pixels that carry information, and their offsets are any whole pixel, so every step
    also meets the patch grid at a new phase.
    """
    h, w = images.shape[-2:]
    u = torch.rand(len(boxes), 2, generator=generator)
    cy = boxes[:, 0] + (u[:, 0] * (boxes[:, 1] - boxes[:, 0])).long()
    cx = boxes[:, 2] + (u[:, 1] * (boxes[:, 3] - boxes[:, 2])).long()
    top = (cy - size // 2).clamp(0, h - size).tolist()
    left = (cx - size // 2).clamp(0, w - size).tolist()
    return torch.stack([im[:, t:t + size, l:l + size] for im, t, l in zip(images, top, left)])


@torch.no_grad()
def evaluate_reconstruction(model, images: torch.Tensor, channels: int, device,
                            batch_size: int = 128) -> dict:
    """Pooled PSNR (dB, colour over covered pixels) and alpha IoU of encode -> decode."""
    sums: dict = {}
    for i in range(0, images.shape[0], batch_size):
        x = rgba_uint8_to_model(images[i:i + batch_size].to(device), channels)
        x_hat = model.decode(model.encode(x))
        metrics.add_sums(sums, metrics.recon_sums(x_hat, x))
    return {k: round(v, 4) for k, v in metrics.finish(sums).items()}
