import math

import pytest
import torch

from ldm_sprites.diffusion.schedule import NoiseSchedule


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_alpha_bar_strictly_decreasing_and_ends_near_zero(kind):
    s = NoiseSchedule(kind, 1000)
    ac = s.alphas_cumprod64
    assert ac.shape == (1000,)
    assert torch.all(ac[1:] < ac[:-1])
    assert 0.99 < ac[0] <= 1.0
    assert ac[-1] < 1e-3


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_q_sample_mean_and_variance(kind):
    s = NoiseSchedule(kind, 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 0.5)
    for t in (0, 250, 500, 999):
        tt = torch.full((20000,), t, dtype=torch.long)
        xt = s.q_sample(x0, tt, torch.randn(x0.shape, generator=g))
        ab = float(s.alphas_cumprod64[t])
        assert xt.mean().item() == pytest.approx(math.sqrt(ab) * 0.5, abs=0.02)
        assert xt.var().item() == pytest.approx(1 - ab, abs=0.02 + 0.05 * (1 - ab))


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_prediction_round_trip(prediction):
    s = NoiseSchedule("cosine", 1000)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(8, 4, 4, 4, generator=g)
    noise = torch.randn(8, 4, 4, 4, generator=g)
    t = torch.tensor([0, 10, 100, 300, 500, 700, 900, 999])
    xt = s.q_sample(x0, t, noise)
    target = s.target(x0, noise, t, prediction)
    x0_hat, eps_hat = s.to_x0_eps(xt, t, target, prediction)
    # ε-prediction is ill-conditioned for x0 at t = T-1 (divides by sqrt(ᾱ_T)); skip that row.
    rows = slice(0, 7) if prediction == "eps" else slice(0, 8)
    torch.testing.assert_close(x0_hat[rows], x0[rows], atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(eps_hat[1:], noise[1:], atol=2e-3, rtol=1e-3)


def test_spaced_timesteps_start_at_T_minus_1_and_end_at_0():
    s = NoiseSchedule("cosine", 1000)
    ts = s.spaced_timesteps(25)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 25
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert s.spaced_timesteps(5000) == list(range(999, -1, -1))


def test_late_timestep_bias_shifts_mass_to_noisy_steps():
    s = NoiseSchedule("cosine", 1000)
    uniform = s.sample_timesteps(20000, torch.Generator().manual_seed(0), "cpu", 0.0).float()
    late = s.sample_timesteps(20000, torch.Generator().manual_seed(0), "cpu", 1.0).float()
    assert uniform.mean().item() == pytest.approx(500, abs=15)
    assert late.mean().item() > 600
    assert late.min() >= 0 and late.max() <= 999


def test_harmonic_init_scale_is_a_mild_shrink():
    s = NoiseSchedule("cosine", 1000)
    scale = s.harmonic_init_scale(s.spaced_timesteps(25))
    assert 0.8 < scale < 1.0


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="cosine"):
        NoiseSchedule("sigmoid")


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_min_snr_weight_caps_easy_timesteps(prediction):
    s = NoiseSchedule("cosine", 1000)
    t = torch.tensor([0, 100, 500, 900, 999])
    assert torch.equal(s.loss_weight(t, prediction, 0.0), torch.ones(5))
    w = s.loss_weight(t, prediction, 5.0)
    ac = s.alphas_cumprod64[t]
    snr = ac / (1 - ac)
    want = snr.clamp(max=5.0) / (snr if prediction == "eps" else snr + 1)
    assert torch.allclose(w.double(), want, rtol=1e-6)
    assert w[0] < 0.01          # nearly clean: SNR is huge, the weight small
    assert torch.all(w <= 1.0 + 1e-6)
    if prediction == "eps":     # noisy end: SNR < gamma -> weight 1, as plain eps-MSE
        assert w[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("spacing", ["uniform", "karras", "logsnr"])
def test_every_spacing_keeps_the_step_count_from_T_minus_1_to_0(spacing):
    s = NoiseSchedule()
    for n in (5, 10, 12, 25, 100):
        ts = s.spaced_timesteps(n, spacing)
        assert len(ts) == n and ts[0] == 999 and ts[-1] == 0
        assert all(a > b for a, b in zip(ts, ts[1:]))


def test_karras_and_logsnr_put_more_steps_at_low_noise_than_uniform():
    s = NoiseSchedule()
    low = {sp: sum(t < 120 for t in s.spaced_timesteps(12, sp))
           for sp in ("uniform", "karras", "logsnr")}
    assert low["karras"] > low["uniform"] and low["logsnr"] > low["uniform"]
    with pytest.raises(ValueError, match="unknown spacing"):
        s.spaced_timesteps(10, "cosine")
