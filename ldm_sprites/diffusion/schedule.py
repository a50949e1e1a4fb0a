"""Discrete variance-preserving noise schedules (DDPM) and the conversions between predictions.

``alphas_cumprod[t]`` is ᾱ_t for t = 0 … T-1: x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε.
All samplers and the training loss go through this one class, so a schedule is defined once.
"""

from __future__ import annotations

import math

import torch

from ldm_sprites.diffusion.choices import SPACINGS


def cosine_alphas_cumprod(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021): ᾱ(t) = cos²((t/T + s)/(1 + s) · π/2), betas clipped at 0.999."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1 - betas, 0)


def linear_alphas_cumprod(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al. (2020): betas linear from 1e-4 to 0.02, rescaled so any T spans the same range."""
    scale = 1000.0 / T
    betas = torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


SCHEDULES = {"cosine": cosine_alphas_cumprod, "linear": linear_alphas_cumprod}
PREDICTIONS = ("eps", "v")
LOG_SIGMA_MAX = 5.1


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation (numpy.interp) for increasing ``xp``; clamps at the ends."""
    x = x.clamp(float(xp[0]), float(xp[-1]))
    i = torch.searchsorted(xp, x).clamp(1, len(xp) - 1)
    w = (x - xp[i - 1]) / (xp[i] - xp[i - 1])
    return fp[i - 1] + w * (fp[i] - fp[i - 1])


class NoiseSchedule:
    """ᾱ_t lookup plus q(x_t | x_0) and the ε / v / x̂_0 conversions."""

    def __init__(self, kind: str = "cosine", timesteps: int = 1000):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule '{kind}'; choose one of {', '.join(SCHEDULES)}")
        self.kind = kind
        self.T = int(timesteps)
        ac64 = SCHEDULES[kind](self.T)
        self.alphas_cumprod64 = ac64
        self.alphas_cumprod = ac64.float()

    # -- per-timestep coefficients -------------------------------------------------------------
    def _coef(self, t: torch.Tensor, like: torch.Tensor):
        ac = self.alphas_cumprod.to(like.device)[t].to(like.dtype)
        shape = (-1,) + (1,) * (like.ndim - 1)
        return ac.sqrt().view(shape), (1 - ac).sqrt().view(shape)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        a, s = self._coef(t, x0)
        return a * x0 + s * noise

    def target(self, x0, noise, t, prediction: str) -> torch.Tensor:
        if prediction == "eps":
            return noise
        a, s = self._coef(t, x0)
        return a * noise - s * x0  # v = α ε − σ x_0 (Salimans & Ho 2022)

    def loss_weight(self, t: torch.Tensor, prediction: str, min_snr_gamma: float) -> torch.Tensor:
        """Per-sample weight of the MSE: Min-SNR-γ (Hang et al. 2023) caps the weight of easy,
        low-noise timesteps so they stop dominating the gradient — the paper's ~3x faster
        convergence. Expressed as the x̂_0-error weight min(SNR, γ), divided by what the plain
        ε- (SNR) or v-MSE (SNR + 1) already weights. γ <= 0: all ones (plain MSE)."""
        if min_snr_gamma <= 0:
            return torch.ones(t.shape, dtype=torch.float32, device=t.device)
        ac = self.alphas_cumprod64.to(t.device)[t]
        snr = ac / (1 - ac)
        w = snr.clamp(max=min_snr_gamma) / (snr if prediction == "eps" else snr + 1)
        return w.float()

    def to_x0_eps(self, x_t, t, model_out, prediction: str):
        """Model output -> (x̂_0, ε̂)."""
        a, s = self._coef(t, x_t)
        if prediction == "eps":
            eps = model_out
            x0 = (x_t - s * eps) / a
        elif prediction == "v":
            x0 = a * x_t - s * model_out
            eps = s * x_t + a * model_out
        else:
            raise ValueError(f"unknown prediction '{prediction}'")
        return x0, eps

    def eps_from_x0(self, x_t, t, x0):
        a, s = self._coef(t, x_t)
        return (x_t - a * x0) / s

    # -- sampling helpers -------------------------------------------------------------------
    def spaced_timesteps(self, steps: int, spacing: str = "uniform") -> list[int]:
        """``steps`` descending timesteps from T-1 to 0.

        ``spacing``: "uniform" — evenly spaced in t ("trailing" spacing); "karras" — the noise
        levels σ = sqrt((1-ᾱ)/ᾱ) of Karras et al. (2022), ρ = 7, which crowd the steps at low noise;
        "logsnr" — uniform in λ = log(α/σ) (DPM-Solver's "logSNR" steps), the variable the
        multistep solvers integrate in. Starting at T-1 matters: sampling must begin where training
        put pure noise. Timesteps are integers (the model was trained on them), strictly
        descending, exactly ``steps`` of them (at most T).
        """
        if spacing not in SPACINGS:
            raise ValueError(f"unknown spacing '{spacing}'; choose one of {', '.join(SPACINGS)}")
        steps = max(1, min(int(steps), self.T))
        if spacing == "uniform" or steps < 3:
            ts = torch.linspace(self.T - 1, 0, steps, dtype=torch.float64)
        else:
            ab = self.alphas_cumprod64
            log_sigma = 0.5 * torch.log((1 - ab) / ab)  # increasing in t
            # Cap the top noise level at λ = -5.1 (diffusers' lambda_min_clipped for cosine): the
            # clipped cosine betas put σ(T-1) near 2e4, and spacing up to there would spend most
            # steps where x̂_0 no longer changes. The first step still starts at T-1.
            lo, hi = float(log_sigma[0]), min(float(log_sigma[-1]), LOG_SIGMA_MAX)
            ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
            if spacing == "karras":
                rho = 7.0
                s_max, s_min = math.exp(hi) ** (1 / rho), math.exp(lo) ** (1 / rho)
                target = rho * torch.log(s_max + ramp * (s_min - s_max))
            else:  # logsnr: λ = -log σ uniform
                target = hi + ramp * (lo - hi)
            ts = _interp(target, log_sigma, torch.arange(self.T, dtype=torch.float64))
            ts[0] = self.T - 1
        out: list[int] = []
        for i, t in enumerate(ts.round().long().tolist()):
            # strictly descending and exactly ``steps`` of them: where rounding merges levels
            # (crowded σ near T-1), step one timestep further, leaving room for the rest
            if out:
                t = max(min(t, out[-1] - 1), steps - 1 - i)
            out.append(t)
        return out

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t as a Python float; t = -1 means "clean data" (ᾱ = 1)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod64[t])

    def harmonic_init_scale(self, timesteps: list[int]) -> float:
        """Std for the initial noise scaled to the harmonic mean of the schedule variances.

        The variances are 1 - ᾱ_t over the high-noise half of the sampler's steps (t ≥ T/2: the
        steps that decide composition; the low-noise half would drive the mean to ~0). The result
        is slightly below 1, a mild shrink of x_T that models trained on very small sprite sets
        tolerate better than unit-variance noise they have rarely seen denoised.
        """
        high = [t for t in timesteps if t >= self.T // 2] or list(timesteps)
        var = torch.tensor([1 - self.alpha_bar(t) for t in high], dtype=torch.float64)
        var = var.clamp_min(1e-12)
        hm = len(var) / (1.0 / var).sum()
        return float(hm.sqrt())

    def sample_timesteps(self, n: int, generator: torch.Generator, device, bias: float = 0.0):
        """Training timesteps. ``bias`` > 0 skews towards late (noisy) steps: density ∝ (t/T)^bias.

        With a tiny data set the high-noise steps, which decide the overall shape, are
        under-trained under uniform sampling; a bias of 1 doubles their share near t = T.
        """
        u = torch.rand(n, generator=generator, device="cpu", dtype=torch.float64)
        if bias > 0:
            u = u ** (1.0 / (1.0 + bias))
        return (u * self.T).long().clamp_(0, self.T - 1).to(device)
