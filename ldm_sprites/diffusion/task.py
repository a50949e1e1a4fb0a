"""The diffusion training task for the shared trainer: noise a batch, predict ε (or v), MSE.

Works on pixels (uint8 sprites converted and augmented per batch on the device) or on latents
precomputed once by the autoencoder (both orientations encoded, so flip augmentation costs
nothing and the encoder never runs during training). ``data.circular_shift`` trains on random
wrap-around shifts of tiles (docs/tiles.md).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from ldm_sprites.data.mapped import chunked_abs_max
from ldm_sprites.data.tensors import augment, rgba_uint8_to_model
from ldm_sprites.data.wrap import circular_shift, wrap_states
from ldm_sprites.diffusion.config import DiffusionConfig
from ldm_sprites.diffusion.dit import build_dit
from ldm_sprites.diffusion.schedule import NoiseSchedule
from ldm_sprites.train_section import warmup_constant


LOSS_BUCKETS = 10


def _bucket_logs(out, target, t, T: int) -> dict:
    """Per-timestep-bucket loss as sums and counts (``lossbin_sum_k``, ``lossbin_n_k``).

    The trainer averages every logged value over its log interval, so a bucket that is empty in
    a batch must not produce NaN: sums and counts average fine and ``ldmsprites report`` divides.
    """
    per = (out - target).pow(2).flatten(1).mean(1)
    b = (t * LOSS_BUCKETS // T).clamp(0, LOSS_BUCKETS - 1)
    sums = torch.zeros(LOSS_BUCKETS, device=per.device).index_add_(0, b, per)
    counts = torch.bincount(b, minlength=LOSS_BUCKETS).float()
    logs = {f"lossbin_sum_{k}": sums[k] for k in range(LOSS_BUCKETS)}
    logs.update({f"lossbin_n_{k}": counts[k] for k in range(LOSS_BUCKETS)})
    return logs


class DiffusionTask:
    """The trainer's ``training.task.Task`` for stage two, every hook implemented (this package
    sits below ``training``, so it satisfies the protocol without importing it)."""

    name = "diffusion"

    def __init__(self, cfg: DiffusionConfig, images: torch.Tensor | None, labels: torch.Tensor,
                 classes: list[str], latents: torch.Tensor | None = None,
                 ae_info: dict | None = None, autoencoder=None):
        """``images``: (N, 4, H, W) uint8 for pixel mode; ``latents``: (2, N, C, h, w) float —
        index 0 the sprites, index 1 their mirror images — for latent mode.

        ``self.cfg`` is ``cfg`` with its model section resolved (``ModelSection.resolved``): the
        network built, as the model directory saves it."""
        self.images = images
        self.latents = latents
        self.labels = labels
        self.classes = list(classes)
        self.model_files: dict[str, bytes] | None = None   # palette files for checkpoints
        self.ae_info = ae_info
        self.autoencoder = autoencoder
        if latents is not None:
            in_ch, size = latents.shape[2], latents.shape[-1]
        else:
            in_ch, size = cfg.data.channels, cfg.data.size
        self.cfg = replace(cfg, model=cfg.model.resolved(size, in_ch, len(self.classes)))
        self.model = build_dit(**asdict(self.cfg.model))
        # model.wrap_condition: whether each tile wraps along x and y, measured on its pixels
        self.wrap = None
        if self.cfg.model.wrap_condition:
            if images is None:
                raise ValueError("model.wrap_condition measures the tiles: pass their images")
            self.wrap = wrap_states(images)
        self.schedule = NoiseSchedule(cfg.diffusion.schedule, cfg.diffusion.timesteps)
        self.batch_size = cfg.train.batch_size
        self.device = torch.device("cpu")
        self.n = int(labels.shape[0])
        # Bound for x̂_0 while sampling. With ε-prediction x̂_0 = (x_t - σ ε̂)/α divides by α ≈ 5e-5
        # at t = T-1 of the cosine schedule, so early predictions can be huge; clipping them to
        # the range of the data (pixels: [-1, 1]; latents: the largest |z| seen) keeps the
        # trajectory on the data's scale.
        self.x0_clip = 1.0 if latents is None else round(chunked_abs_max(latents, dim=1), 4)
        # Autoguidance's guide: the EMA weights at the first checkpoint at or after
        # diffusion.guide_step, carried by every later checkpoint (and the resume state).
        self.guide: dict[str, torch.Tensor] | None = None
        self.guide_taken = 0

    def to(self, device):
        self.device = torch.device(device)
        if self.images is not None:
            self.images = self.images.to(device)
        if self.latents is not None:
            self.latents = self.latents.to(device)
        self.labels = self.labels.to(device)
        if self.wrap is not None:
            self.wrap = self.wrap.to(device)
        return self

    def lr_lambda(self, cfg):
        """Linear warm-up, constant, then ``train.cooldown``'s linear fall to 0."""
        return warmup_constant(cfg)

    def config_dict(self) -> dict:
        cfg = self.cfg
        return {"kind": "diffusion", "model": asdict(cfg.model),
                "diffusion": asdict(cfg.diffusion), "data": asdict(cfg.data),
                "sample": asdict(cfg.sample), "ae": self.ae_info,
                "space": "latent" if self.latents is not None else "pixel",
                "x0_clip": self.x0_clip, **self._guide_config()}

    def _guide_config(self) -> dict:
        if self.guide is None:
            return {}
        return {"guide": {"model": asdict(self.cfg.model), "step": self.guide_taken}}

    def epoch_at(self, step: int) -> float:
        return round(step * self.batch_size / max(1, self.n), 3)

    # No extra parts: nothing to do after a step. The only state of its own is the guide.
    def after_step(self, step: int, accelerator) -> None:
        pass

    def on_checkpoint(self, ema_model, step: int) -> None:
        """Keep the EMA weights as the guide at the first checkpoint at or after guide_step."""
        at = self.cfg.diffusion.guide_step
        if at and self.guide is None and step >= at:
            self.guide = {k: v.detach().cpu().clone() for k, v in ema_model.state_dict().items()}
            self.guide_taken = step
            self._add_guide_file()

    def _add_guide_file(self) -> None:
        from safetensors.torch import save as safetensors_bytes

        from ldm_sprites.diffusion.guide import GUIDE_FILE

        data = safetensors_bytes(self.guide, metadata={"format": "pt"})
        self.model_files = {**(self.model_files or {}), GUIDE_FILE: data}

    def extra_state(self) -> dict | None:
        # The guide's weights are in the checkpoint's guide.safetensors (model_files) already;
        # the resume state only says that there is one.
        if self.guide is None:
            return None
        return {"guide_step": self.guide_taken}

    def load_extra_state(self, state: dict, checkpoint) -> None:
        if state.get("guide_step") is None:
            return
        self.guide = checkpoint.weights("guide")
        self.guide_taken = int(state["guide_step"])
        self._add_guide_file()

    def guide_model(self):
        """The guide as a DiT on the training device (None before guide_step)."""
        from ldm_sprites.diffusion.guide import build_guide

        if self.guide is None:
            return None
        return build_guide(self.cfg.model, self.guide, self.device)

    def _x0(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        d = self.cfg.data
        if self.latents is not None and d.circular_shift:
            # Views: every orientation x sub-cell phase of each tile, encoded as it repeats
            # (``encode_dataset(wrap=True)``); a roll by whole latent cells completes the shift.
            view = torch.randint(self.latents.shape[0], (len(idx),), generator=generator)
            return circular_shift(self.latents[view.to(self.device), idx], generator)
        if self.latents is not None:
            if d.flip:
                flip = (torch.rand(len(idx), generator=generator) < 0.5).long().to(self.device)
                return self.latents[flip, idx]
            return self.latents[0, idx]
        x = rgba_uint8_to_model(self.images[idx], d.channels)
        x = augment(x, generator, flip=d.flip, hue_jitter=d.hue_jitter)
        return circular_shift(x, generator) if d.circular_shift else x

    def loss(self, model, generator: torch.Generator):
        idx = torch.randint(self.n, (self.batch_size,), generator=generator).to(self.device)
        x0 = self._x0(idx, generator)
        y = self.labels[idx] if self.classes else torch.zeros_like(idx)
        t = self.schedule.sample_timesteps(len(idx), generator, self.device,
                                           self.cfg.diffusion.timestep_bias)
        noise = torch.randn(x0.shape, generator=generator).to(x0)
        x_t = self.schedule.q_sample(x0, t, noise)
        wrap = None if self.wrap is None else self.wrap[idx]
        out = model(x_t, t, y, wrap=wrap, train=True, generator=generator)
        target = self.schedule.target(x0, noise, t, self.cfg.diffusion.prediction)
        per_sample = (out.float() - target.float()).pow(2).flatten(1).mean(1)
        w = self.schedule.loss_weight(t, self.cfg.diffusion.prediction,
                                      self.cfg.diffusion.min_snr_gamma).to(per_sample)
        loss = (w * per_sample).mean()
        return loss, _bucket_logs(out.detach().float(), target.float(), t, self.schedule.T)

    @torch.no_grad()
    def preview(self, ema_model, step: int, path: Path) -> None:
        """A grid with one row per class (up to 8 classes x 8 samples), fixed seed across steps."""
        from ldm_sprites.diffusion.pipeline import DiffusionPipeline
        from ldm_sprites.image_files import make_grid, save_png

        classes = self.classes[:8]
        per = 8
        labels = [i for i in range(len(classes)) for _ in range(per)] if classes else [0] * 16
        pipe = DiffusionPipeline(ema_model, self.schedule, self.cfg.diffusion.prediction,
                                 self.classes, self.config_dict(), self.device, self.autoencoder,
                                 guide=self.guide_model())
        was_training = ema_model.training
        ema_model.eval()
        x = pipe.sample(labels, seed=0)  # the run's own sampling defaults
        ema_model.train(was_training)
        sprites = pipe.to_rgba(x)
        scale = max(1, 128 // sprites.shape[1])
        save_png(path, make_grid(sprites, nrow=per if classes else 4, scale=min(scale, 4)))
