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


def _alpha_sigma_lambda(schedule: NoiseSchedule, t: int) -> tuple[float, float, float]:
    """α_t, σ_t and λ_t = log(α_t/σ_t) of timestep t (t = -1: clean data, σ = 0, λ = ∞)."""
    ab = schedule.alpha_bar(t)
    if t < 0:
        return 1.0, 0.0, math.inf
    return math.sqrt(ab), math.sqrt(1 - ab), 0.5 * math.log(ab / (1 - ab))


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


@torch.no_grad()
def sample_dpmpp_3m(denoiser, x, schedule: NoiseSchedule, timesteps, *, generator=None,
                    callback=None, eta: float = 0.0, end: int = -1):
    """DPM-Solver++(3M) (Lu et al. 2022), as k-diffusion's ``sample_dpmpp_3m_sde``.

    Third-order multistep in data-prediction form: the first step is first order, the second
    second order, the step into clean data returns x̂_0. ``eta = 0`` (default) is the ODE solver;
    ``eta > 0`` adds the SDE's noise (drawn from ``generator``, so a seed fixes the result).
    """
    x0_1 = x0_2 = h_1 = h_2 = None
    for i, (t, s) in enumerate(_pairs(timesteps, end)):
        x0 = denoiser(x, t)
        _, sig_t, lam_t = _alpha_sigma_lambda(schedule, t)
        a_s, sig_s, lam_s = _alpha_sigma_lambda(schedule, s)
        if s < 0:
            x, h = x0, None
        else:
            h = lam_s - lam_t
            h_eta = h * (eta + 1)
            # exact exponential-integrator step with x̂_0 held constant ...
            x = (sig_s / sig_t) * math.exp(-h * eta) * x - a_s * math.expm1(-h_eta) * x0
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if h_2 is not None:  # ... plus the 2nd and 3rd order terms from earlier x̂_0
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (x0 - x0_1) / r0
                d1_1 = (x0_1 - x0_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + a_s * (phi_2 * d1 - phi_3 * d2)
            elif h_1 is not None:
                x = x + a_s * phi_2 * (x0 - x0_1) / (h_1 / h)
            if eta > 0:
                x = x + sig_s * math.sqrt(-math.expm1(-2 * h * eta)) * _noise_like(x, generator)
        x0_1, x0_2, h_1, h_2 = x0, x0_1, h, h_1
        if callback is not None:
            callback(i, x, x0)
    return x


def _unipc_update(x, hist, a_t: float, sig_t: float, lam_t: float, order: int, x0_t=None):
    """One UniPC B(h) = e^h - 1 ("bh2") update in data-prediction form (Zhao et al. 2023; the
    update of diffusers' ``UniPCMultistepScheduler``). ``x`` sits at the newest entry of ``hist``
    (a list of (λ, σ, x̂_0), oldest first); the result is at (α_t, σ_t, λ_t). Without ``x0_t``
    it is the predictor UniP-``order``; with ``x0_t`` (the model's x̂_0 at the target) it is the
    corrector UniC-``order``, which uses that extra evaluation at no extra model call."""
    lam_0, sig_0, m0 = hist[-1]
    h = lam_t - lam_0
    hh = -h
    h_phi_1 = math.expm1(hh)
    b_h = h_phi_1
    rks, d1s = [], []
    for k in range(1, order):
        lam_k, _, m_k = hist[-(k + 1)]
        rk = (lam_k - lam_0) / h
        rks.append(rk)
        d1s.append((m_k - m0) / rk)
    rks.append(1.0)
    rows, b = [], []
    h_phi_k, fact = h_phi_1 / hh - 1, 1
    for k in range(1, order + 1):
        rows.append([r ** (k - 1) for r in rks])
        b.append(h_phi_k * fact / b_h)
        fact *= k + 1
        h_phi_k = h_phi_k / hh - 1 / fact
    R = torch.tensor(rows, dtype=torch.float64)
    b = torch.tensor(b, dtype=torch.float64)
    x_t = (sig_t / sig_0) * x - a_t * h_phi_1 * m0
    if x0_t is None:  # predictor
        if not d1s:
            return x_t
        rhos = [0.5] if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1]).tolist()
        return x_t - a_t * b_h * sum(r * d for r, d in zip(rhos, d1s))
    rhos = [0.5] if order == 1 else torch.linalg.solve(R, b).tolist()
    res = rhos[-1] * (x0_t - m0)
    for r, d in zip(rhos[:-1], d1s):
        res = res + r * d
    return x_t - a_t * b_h * res


@torch.no_grad()
def sample_unipc(denoiser, x, schedule: NoiseSchedule, timesteps, *, generator=None,
                 callback=None, eta: float = 0.0, end: int = -1, order: int = 2):
    """UniPC (Zhao et al. 2023): predictor UniP-p plus the corrector UniC, B(h) = e^h - 1.

    Multistep of order ``order`` (2, diffusers' default and the paper's choice for guided
    sampling); orders ramp up over the first steps and back down over the last ones
    ("lower_order_final"), and the step into clean data returns x̂_0. Each model evaluation first
    corrects the current x with the new x̂_0, then predicts the next one: one call per step.
    Deterministic, so ``generator`` and ``eta`` are unused.
    """
    pairs = _pairs(timesteps, end)
    hist, x_prev, p = [], None, 0
    for i, (t, s) in enumerate(pairs):
        x0 = denoiser(x, t)
        _, sig_t, lam_t = _alpha_sigma_lambda(schedule, t)
        a_t = math.sqrt(schedule.alpha_bar(t))
        if x_prev is not None:
            x = _unipc_update(x_prev, hist, a_t, sig_t, lam_t, p, x0_t=x0)
        hist = (hist + [(lam_t, sig_t, x0)])[-order:]
        p = min(order, len(hist), len(pairs) - i)
        x_prev = x
        if s < 0:
            x = x0
        else:
            x = _unipc_update(x, hist, *_alpha_sigma_lambda(schedule, s), p)
        if callback is not None:
            callback(i, x, x0)
    return x


SAMPLERS = {"ddpm": sample_ddpm, "ddim": sample_ddim, "dpmpp": sample_dpmpp_2m,
            "dpmpp3m": sample_dpmpp_3m, "unipc": sample_unipc}
