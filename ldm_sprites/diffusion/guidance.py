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

    ``interval = (σ_lo, σ_hi)`` applies guidance only where the noise level σ = sqrt((1-ᾱ)/ᾱ) lies
    in (σ_lo, σ_hi] (Kynkäänniemi et al. 2024, "guidance in a limited interval"): at very high
    noise guidance mostly reduces diversity, at low noise it barely changes the sample, and
    skipping it there also skips the unconditional forward pass. ``None`` guides every step.
    """

    def __init__(self, model, schedule: NoiseSchedule, labels: torch.Tensor, null_label: int,
                 guidance: float = 1.0, prediction: str = "eps", clip_x0: float | None = None,
                 interval: tuple[float, float] | None = None):
        self.model = model
        self.schedule = schedule
        self.labels = labels
        self.null = torch.full_like(labels, null_label)
        self.guidance = float(guidance)
        self.prediction = prediction
        self.clip_x0 = clip_x0
        self.interval = interval

    def scale_at(self, t: int) -> float:
        if self.interval is None:
            return self.guidance
        ab = self.schedule.alpha_bar(int(t))
        sigma = ((1 - ab) / ab) ** 0.5
        lo, hi = self.interval
        return self.guidance if (lo < sigma and (hi <= 0 or sigma <= hi)) else 1.0

    def model_output(self, x: torch.Tensor, t: torch.Tensor, g: float | None = None) -> torch.Tensor:
        g = self.guidance if g is None else g
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
        out = self.model_output(x, tt, self.scale_at(t)).float()
        x0, _ = self.schedule.to_x0_eps(x.float(), tt, out, self.prediction)
        if self.clip_x0 is not None:
            # Pixel space is bounded; clipping x̂_0 keeps guided samples from blowing out colours.
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        return x0
