"""Turn a raw DiT into the denoiser samplers call: classifier-free guidance, autoguidance and the
x̂_0 conversion (the guide itself, and where a model keeps it: ``guide.py``)."""

from __future__ import annotations

import torch

from ldm_sprites.diffusion.dit import WRAP_UNKNOWN
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

    Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"):
    with a ``guide`` — the same network less trained (an early EMA snapshot of the run, kept by
    ``diffusion.guide_step``) — and a weight ``autoguidance`` = w > 1, the conditional
    predictions of the two give ``guide + w · (model − guide)``: where the guide errs the same
    way as the model (what both have not learned yet: patchy colour areas, stray pixels) the
    difference cancels it; where the model has learned more, w amplifies it. With
    classifier-free guidance on as well, the autoguidance term is *added* to the classifier-free
    output, ``cfg(model) + (w − 1) · (model_cond − guide_cond)``, rather than guiding the guide
    too: nesting the two multiplies them (w · scale on the class difference) and broke the demo
    model at w 3, scale 3 (FD 252 against 156 added; docs/benchmarks.md, stop 26). At scale 1
    both forms are the same. Costs one conditional forward pass of the guide per step.
    """

    def __init__(self, model, schedule: NoiseSchedule, labels: torch.Tensor, null_label: int,
                 guidance: float = 1.0, prediction: str = "eps", clip_x0: float | None = None,
                 interval: tuple[float, float] | None = None, guide=None,
                 autoguidance: float = 1.0, wrap: torch.Tensor | None = None):
        self.model = model
        # (N, 2) wrap states for a wrap-conditioned model (``dit.WrapEmbedder``). The
        # unconditional half is told nothing (class null, wrap unknown), so guidance pushes
        # towards "wraps" as it pushes towards the class.
        self.wrap = wrap
        self.null_wrap = None if wrap is None else torch.full_like(wrap, WRAP_UNKNOWN)
        self.guide = guide
        self.autoguidance = float(autoguidance) if guide is not None else 1.0
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

    def _run(self, net, x, t, labels, wrap=None):
        if self.wrap is None:   # the plain call, (x, t, y): what every other model takes
            return net(x, t, labels)
        return net(x, t, labels, wrap=self.wrap if wrap is None else wrap)

    def model_output(self, x: torch.Tensor, t: torch.Tensor, g: float | None = None) -> torch.Tensor:
        g = self.guidance if g is None else g
        if g == 1.0:
            out = cond = self._run(self.model, x, t, self.labels)
        elif g == 0.0:
            out, cond = self._run(self.model, x, t, self.null, self.null_wrap), None
        else:
            both = self._run(self.model, torch.cat([x, x]), torch.cat([t, t]),
                             torch.cat([self.labels, self.null]),
                             None if self.wrap is None else torch.cat([self.wrap, self.null_wrap]))
            cond, uncond = both.chunk(2)
            out = uncond + g * (cond - uncond)
        if self.autoguidance == 1.0 or cond is None:
            return out
        return out + (self.autoguidance - 1.0) * (cond - self._run(self.guide, x, t, self.labels))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        tt = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        out = self.model_output(x, tt, self.scale_at(t)).float()
        x0, _ = self.schedule.to_x0_eps(x.float(), tt, out, self.prediction)
        if self.clip_x0 is not None:
            # Pixel space is bounded; clipping x̂_0 keeps guided samples from blowing out colours.
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        return x0
