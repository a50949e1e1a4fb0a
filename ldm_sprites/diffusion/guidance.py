"""Turn a raw DiT into the denoiser samplers call: classifier-free guidance + x̂_0 conversion."""

from __future__ import annotations

import torch

from ldm_sprites.diffusion.schedule import NoiseSchedule


class GuidedDenoiser:
    """``denoiser(x_t, t) -> x̂_0`` for a fixed batch of labels.

    Classifier-free guidance mixes conditional and unconditional outputs,
    ``out = uncond + scale · (cond − uncond)``; both come from **one** forward pass over a doubled
    batch. At scale 1 the unconditional half is skipped (it would be multiplied by zero), and at
    scale 0 only the unconditional half runs.
    """

    def __init__(self, model, schedule: NoiseSchedule, labels: torch.Tensor, null_label: int,
                 guidance: float = 1.0, prediction: str = "eps", clip_x0: float | None = None):
        self.model = model
        self.schedule = schedule
        self.labels = labels
        self.null = torch.full_like(labels, null_label)
        self.guidance = float(guidance)
        self.prediction = prediction
        self.clip_x0 = clip_x0

    def model_output(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        g = self.guidance
        if g == 1.0:
            return self.model(x, t, self.labels)
        if g == 0.0:
            return self.model(x, t, self.null)
        out = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([self.labels, self.null]))
        cond, uncond = out.chunk(2)
        return uncond + g * (cond - uncond)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        tt = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        out = self.model_output(x, tt).float()
        x0, _ = self.schedule.to_x0_eps(x.float(), tt, out, self.prediction)
        if self.clip_x0 is not None:
            # Pixel space is bounded; clipping x̂_0 keeps guided samples from blowing out colours.
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        return x0
