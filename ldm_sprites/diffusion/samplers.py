"""Samplers, k-diffusion style: each is one plain function with the same signature.

    sampler(denoiser, x, schedule, timesteps, *, generator=None, callback=None, eta=..., end=-1)

``denoiser(x_t, t) -> x̂_0`` (see ``guidance.GuidedDenoiser``); ``timesteps`` descend from T-1 to
0 (``schedule.spaced_timesteps``); ``callback(step, x_t, x0_pred)`` is called once per step, and is
where progress bars and reverse-process animations hang. Each step goes from t to the next
timestep s (s = ``end`` after the last one: -1 by default, meaning clean data, ᾱ = 1; a timestep
>= 0 stops at that noise level instead, which is how ``editing.py`` runs a sampler in segments).
"""

from __future__ import annotations

import math

import torch

from ldm_sprites.diffusion.schedule import NoiseSchedule


def _noise_like(x, generator):
    return torch.randn(x.shape, generator=generator, device="cpu", dtype=torch.float32).to(x)


def _pairs(timesteps, end: int = -1):
    ts = list(timesteps)
    return list(zip(ts, ts[1:] + [int(end)]))


@torch.no_grad()
def sample_ddpm(denoiser, x, schedule: NoiseSchedule, timesteps, *, generator=None, callback=None,
                eta: float = 1.0, end: int = -1):
    """Ancestral sampling from the DDPM posterior q(x_s | x_t, x̂_0) (Ho et al. 2020).

    With all T timesteps this is the classic 1000-step sampler; with fewer it is the respaced
    ancestral sampler (Nichol & Dhariwal 2021). ``eta`` is unused (kept for the shared signature).
    """
    for i, (t, s) in enumerate(_pairs(timesteps, end)):
        x0 = denoiser(x, t)
        ab_t, ab_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
        beta = 1.0 - ab_t / ab_s
        coef_x0 = math.sqrt(ab_s) * beta / (1.0 - ab_t)
        coef_xt = math.sqrt(1.0 - beta) * (1.0 - ab_s) / (1.0 - ab_t)
        mean = coef_x0 * x0 + coef_xt * x
        if s >= 0:
            var = beta * (1.0 - ab_s) / (1.0 - ab_t)
            x = mean + math.sqrt(max(var, 0.0)) * _noise_like(x, generator)
        else:
            x = mean
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def sample_ddim(denoiser, x, schedule: NoiseSchedule, timesteps, *, generator=None, callback=None,
                eta: float = 0.0, end: int = -1):
    """DDIM (Song et al. 2021). ``eta = 0`` is deterministic; ``eta = 1`` matches DDPM's variance."""
    for i, (t, s) in enumerate(_pairs(timesteps, end)):
        x0 = denoiser(x, t)
        ab_t, ab_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
        eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1.0 - ab_t)
        sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t)) * math.sqrt(max(1 - ab_t / ab_s, 0.0))
        x = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - sigma ** 2, 0.0)) * eps
        if sigma > 0 and s >= 0:
            x = x + sigma * _noise_like(x, generator)
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoiser, x, schedule: NoiseSchedule, timesteps, *, generator=None,
                    callback=None, eta: float = 0.0, end: int = -1):
    """DPM-Solver++(2M) (Lu et al. 2022): second-order multistep in data-prediction form.

    Works in λ = log(α/σ); the first step and the step into clean data are first order.
    Deterministic, so ``generator`` and ``eta`` are unused.
    """
    def lam(t):
        ab = schedule.alpha_bar(t)
        return 0.5 * math.log(ab / (1 - ab))

    old_x0, h_last = None, None
    for i, (t, s) in enumerate(_pairs(timesteps, end)):
        x0 = denoiser(x, t)
        if s < 0:
            x = x0  # σ_s = 0: the solution is the data prediction itself
        else:
            ab_t, ab_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
            sig_t, sig_s, a_s = math.sqrt(1 - ab_t), math.sqrt(1 - ab_s), math.sqrt(ab_s)
            h = lam(s) - lam(t)
            if old_x0 is None or h_last is None:
                d = x0
            else:
                r = h_last / h
                d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * old_x0
            x = (sig_s / sig_t) * x - a_s * math.expm1(-h) * d
            h_last = h
        old_x0 = x0
        if callback is not None:
            callback(i, x, x0)
    return x


SAMPLERS = {"ddpm": sample_ddpm, "ddim": sample_ddim, "dpmpp": sample_dpmpp_2m}
