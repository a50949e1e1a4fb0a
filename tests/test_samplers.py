import pytest
import torch

from ldm_sprites.diffusion.dit import build_dit
from ldm_sprites.diffusion.guidance import GuidedDenoiser
from ldm_sprites.diffusion.choices import SAMPLER_NAMES
from ldm_sprites.diffusion.samplers import SAMPLERS
from ldm_sprites.diffusion.schedule import NoiseSchedule

ODE_SOLVERS = ("dpmpp", "dpmpp3m", "unipc")


def _random_model(num_classes=3):
    torch.manual_seed(0)
    m = build_dit("nano", input_size=8, in_channels=4, patch_size=2, num_classes=num_classes)
    for p in m.parameters():  # break the zero init so outputs depend on the label
        torch.nn.init.normal_(p, std=0.05)
    return m.eval()


def test_cfg_scale_one_is_conditional_and_zero_is_unconditional():
    m = _random_model()
    s = NoiseSchedule()
    x = torch.randn(2, 4, 8, 8)
    y = torch.tensor([0, 2])
    t = torch.tensor([500, 500])
    cond = m(x, t, y)
    uncond = m(x, t, torch.tensor([3, 3]))
    g1 = GuidedDenoiser(m, s, y, 3, guidance=1.0).model_output(x, t)
    g0 = GuidedDenoiser(m, s, y, 3, guidance=0.0).model_output(x, t)
    g3 = GuidedDenoiser(m, s, y, 3, guidance=3.0).model_output(x, t)
    torch.testing.assert_close(g1, cond)
    torch.testing.assert_close(g0, uncond)
    torch.testing.assert_close(g3, uncond + 3 * (cond - uncond), atol=1e-5, rtol=1e-4)


class _CountingModel(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls, self.batch = inner, 0, []

    def forward(self, x, t, y):
        self.calls += 1
        self.batch.append(x.shape[0])
        return self.inner(x, t, y)


def test_cfg_batches_cond_and_uncond_in_one_forward():
    m = _CountingModel(_random_model())
    den = GuidedDenoiser(m, NoiseSchedule(), torch.tensor([0, 1]), 3, guidance=3.0)
    den(torch.randn(2, 4, 8, 8), 10)
    assert m.calls == 1 and m.batch == [4]


def test_ddim_eta0_is_deterministic_and_independent_of_generator():
    m = _random_model()
    s = NoiseSchedule()
    den = GuidedDenoiser(m, s, torch.tensor([0, 1]), 3, guidance=2.0, clip_x0=1.0)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ts = s.spaced_timesteps(10)
    a = SAMPLERS["ddim"](den, x.clone(), s, ts, generator=torch.Generator().manual_seed(1), eta=0.0)
    b = SAMPLERS["ddim"](den, x.clone(), s, ts, generator=torch.Generator().manual_seed(2), eta=0.0)
    assert torch.equal(a, b)
    c = SAMPLERS["ddim"](den, x.clone(), s, ts, generator=torch.Generator().manual_seed(2), eta=1.0)
    assert not torch.equal(a, c)


def test_every_sampler_has_an_option_name():
    assert tuple(SAMPLERS) == SAMPLER_NAMES


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_callback_once_per_step_and_final_equals_last_x0(name):
    m = _random_model()
    s = NoiseSchedule()
    den = GuidedDenoiser(m, s, torch.tensor([0]), 3, guidance=1.0, clip_x0=1.0)
    seen = []
    ts = s.spaced_timesteps(7)
    out = SAMPLERS[name](den, torch.randn(1, 4, 8, 8), s, ts,
                         generator=torch.Generator().manual_seed(0),
                         callback=lambda i, x, x0: seen.append((i, x.clone(), x0.clone())))
    assert [i for i, _, _ in seen] == list(range(7))
    torch.testing.assert_close(out, seen[-1][2])  # the last step lands on clean data


class _OracleDenoiser:
    """Knows the data is a single point x*: the exact x̂_0 for a delta distribution."""

    def __init__(self, target):
        self.target = target

    def __call__(self, x, t):
        return self.target.expand_as(x)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_samplers_recover_a_delta_distribution(name):
    s = NoiseSchedule()
    target = torch.linspace(-1, 1, 16).view(1, 1, 4, 4)
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = SAMPLERS[name](_OracleDenoiser(target), x, s, s.spaced_timesteps(20),
                         generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, target.expand_as(out), atol=1e-4, rtol=0)


def test_solvers_converge_on_gaussian_data_and_dpmpp_beats_ddim_at_25_steps():
    """For data ~ N(0, 1) the exact x̂_0 is sqrt(ᾱ) x_t and the exact sample has unit std."""
    s = NoiseSchedule()

    def den(x, t):
        return s.alpha_bar(t) ** 0.5 * x

    x = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0))
    std = {(n, k): SAMPLERS[n](den, x.clone(), s, s.spaced_timesteps(k)).std().item()
           for n in ("ddim", "dpmpp") for k in (25, 200)}
    assert abs(std["dpmpp", 25] - 1) < abs(std["ddim", 25] - 1)
    assert std["ddim", 200] == pytest.approx(1.0, abs=0.01)
    assert std["dpmpp", 200] == pytest.approx(1.0, abs=0.01)


def test_guidance_interval_guides_only_inside_the_sigma_range():
    m = _CountingModel(_random_model())
    s = NoiseSchedule()
    y = torch.tensor([1, 2])
    den = GuidedDenoiser(m, s, y, 3, guidance=3.0, interval=(0.5, 5.0))
    sigma = lambda t: ((1 - s.alpha_bar(t)) / s.alpha_bar(t)) ** 0.5
    t_in = next(t for t in range(1000) if 0.5 < sigma(t) <= 5.0)
    t_hi = next(t for t in range(999, -1, -1) if sigma(t) > 5.0)
    x = torch.randn(2, 4, 8, 8)
    assert den.scale_at(t_in) == 3.0 and den.scale_at(t_hi) == 1.0 and den.scale_at(0) == 1.0
    den(x, t_hi)
    den(x, t_in)
    assert m.batch == [2, 4]  # outside the interval: conditional pass only
    plain = GuidedDenoiser(m.inner, s, y, 3, guidance=3.0)
    torch.testing.assert_close(den(x, t_in), plain(x, t_in))
    cond_only = GuidedDenoiser(m.inner, s, y, 3, guidance=1.0)
    torch.testing.assert_close(den(x, t_hi), cond_only(x, t_hi))


@pytest.mark.parametrize("name", ["dpmpp3m", "unipc"])
def test_new_solvers_are_deterministic_per_seed_on_a_model(name):
    m = _random_model()
    s = NoiseSchedule()
    den = GuidedDenoiser(m, s, torch.tensor([0, 2]), 3, guidance=3.0)
    ts = s.spaced_timesteps(6, "logsnr")

    def run(seed, eta=0.0):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 4, 8, 8, generator=g)
        return SAMPLERS[name](den, x, s, ts, generator=g, eta=eta)

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    if name == "dpmpp3m":  # the SDE variant draws its noise from the generator
        assert torch.equal(run(0, eta=1.0), run(0, eta=1.0))
        assert not torch.equal(run(0, eta=1.0), run(0))


def _gaussian_denoiser(s, mu, var):
    """Data ~ N(mu, var): the exact x̂_0 = E[x_0 | x_t] of the VP process."""
    def den(x, t):
        ab = s.alpha_bar(t)
        return mu + ab ** 0.5 * var / (ab * var + 1 - ab) * (x - ab ** 0.5 * mu)
    return den


@pytest.mark.parametrize("name", ODE_SOLVERS)
@pytest.mark.parametrize("spacing, steps", [("logsnr", 15), ("karras", 25)])
def test_solvers_reach_gaussian_data_in_few_steps(name, spacing, steps):
    """Converged samples of N(0.5, 0.5²) data have its mean and std; the solvers get there in
    15-25 steps with a low-noise-heavy spacing, and match the exact ODE solution at 50."""
    s = NoiseSchedule()
    den = _gaussian_denoiser(s, 0.5, 0.25)
    x = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ab = s.alpha_bar(999)
    exact = 0.5 + 0.5 * (x - ab ** 0.5 * 0.5) / (ab * 0.25 + 1 - ab) ** 0.5
    out = SAMPLERS[name](den, x.clone(), s, s.spaced_timesteps(steps, spacing))
    assert out.mean().item() == pytest.approx(exact.mean().item(), abs=0.01)
    assert out.std().item() == pytest.approx(0.5, rel=0.05)
    out = SAMPLERS[name](den, x.clone(), s, s.spaced_timesteps(50, spacing))
    assert (out - exact).abs().max().item() < 0.025


def test_higher_order_solvers_beat_dpmpp_2m_on_logsnr_steps():
    s = NoiseSchedule()
    den = _gaussian_denoiser(s, 0.5, 0.25)
    x = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ab = s.alpha_bar(999)
    exact = 0.5 + 0.5 * (x - ab ** 0.5 * 0.5) / (ab * 0.25 + 1 - ab) ** 0.5
    err = {n: (SAMPLERS[n](den, x.clone(), s, s.spaced_timesteps(25, "logsnr")) - exact).abs()
           .max().item() for n in ODE_SOLVERS}
    assert err["dpmpp3m"] < err["dpmpp"] and err["unipc"] < err["dpmpp"]


@pytest.mark.parametrize("name", ODE_SOLVERS)
def test_solvers_split_two_point_data(name):
    """Data ±1 with equal weight: x̂_0 = tanh(α x_t / σ²). Samples land on ±1 in equal shares."""
    s = NoiseSchedule()

    def den(x, t):
        ab = s.alpha_bar(t)
        return torch.tanh(ab ** 0.5 * x / (1 - ab))

    x = torch.randn(4000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = SAMPLERS[name](den, x, s, s.spaced_timesteps(12, "logsnr"))
    assert (out.abs() - 1).abs().max().item() < 1e-3
    assert (out > 0).double().mean().item() == pytest.approx((x > 0).double().mean().item(),
                                                               abs=0.01)
