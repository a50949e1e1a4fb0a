"""Sampling options: the one place where "what the user asked" meets "what the model saved".

A model directory saves its sampling defaults (config.json ``sample``, read as a
``diffusion.config.SampleSection``). Every entry point — CLI, API, demo, eval, report,
benchmarks — passes only the options the user actually set (``None`` = not set) and
``resolve_sampling`` fills the rest from the model, once, into a ``SamplingOptions`` that the
pipeline samples with; so they all draw the same sprites for the same seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ldm_sprites.diffusion.choices import INIT_NOISE, SAMPLER_NAMES, SPACINGS
from ldm_sprites.diffusion.config import SampleSection
from ldm_sprites.errors import UserError

EVERY_STEP = "all"  # guidance_interval value that guides every step, whatever the model saved
# Steps of a sampler other than the model's when the user sets none: ancestral DDPM runs all T
# (the baseline), the ODE solvers this many, with uniform spacing.
OTHER_SAMPLER_STEPS = 25
OTHER_SAMPLER_SPACING = "uniform"


@dataclass(frozen=True)
class SamplingOptions:
    sampler: str
    steps: int
    guidance: float
    eta: float
    init_noise: str
    guidance_interval: tuple[float, float] | None  # None: guide every step
    spacing: str = "uniform"
    autoguidance: float = 1.0  # weight of the model over its guide (GuidedDenoiser); 1 = off
    # 'xy' | 'x' | 'y': sample tiles that wrap along those axes (noise rolling, ``tileable.py``,
    # and a circularly padded decoder); None: ordinary sprites. Never a model default.
    tileable: str | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["guidance_interval"] = list(self.guidance_interval) if self.guidance_interval else None
        return d

    def timesteps(self, schedule) -> list[int]:
        """The descending timesteps these options sample (``NoiseSchedule.spaced_timesteps``)."""
        return schedule.spaced_timesteps(self.steps, self.spacing)


def parse_interval(value) -> tuple[float, float] | str | None:
    """'LO,HI' | 'all' | (lo, hi) | None -> (lo, hi) | EVERY_STEP | None (= the model's)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == EVERY_STEP):
        return None if value is None else EVERY_STEP
    if isinstance(value, str):
        try:
            lo, hi = (float(v) for v in value.split(","))
        except ValueError:
            raise UserError(f"--guidance-interval '{value}' must be two numbers 'LO,HI' "
                            "(e.g. 0.3,5) or 'all'") from None
    else:
        lo, hi = (float(v) for v in value)
    if lo < 0 or (hi > 0 and hi <= lo):
        raise UserError(f"--guidance-interval {lo:g},{hi:g}: need 0 <= LO < HI "
                        "(HI 0 = no upper limit)")
    return (lo, hi)


def resolve_sampling(defaults: SampleSection, timesteps: int, *, sampler: str | None = None,
                     steps: int | None = None, guidance: float | None = None,
                     eta: float | None = None, init_noise: str | None = None,
                     guidance_interval=None, spacing: str | None = None,
                     autoguidance: float | None = None, tileable=None,
                     has_guide: bool = False, transfer: bool = False,
                     sdedit: bool = False) -> SamplingOptions:
    """User options (``None`` = not set) over the model's saved ``defaults``.

    ``transfer``: the sprites are a class transfer of inputs (``vary --class`` below strength 1),
    whose default guidance is the model's ``transfer_guidance`` instead of ``guidance``.
    ``sdedit``: variations from partly noised inputs (``vary`` below strength 1): unless the user
    set the sampler, steps or spacing, the model's ``vary_sampler``/``vary_steps``/``vary_spacing``.

    Steps and spacing: the model's step count and spacing belong to the model's sampler; another
    sampler gets its own natural default (all T steps for ancestral DDPM, the baseline;
    ``OTHER_SAMPLER_STEPS`` for the ODE solvers; ``OTHER_SAMPLER_SPACING``).

    Autoguidance needs a guide in the model directory (``has_guide``): the model's saved weight
    applies only where there is one (and not to class transfer), a weight the user asks for
    without one is an error.

    ``tileable``: 'xy' / 'x' / 'y' (or True for 'xy'; ``data.wrap.parse_axes``) samples tiles
    that wrap; an unknown axis is a one-line error.
    """
    from ldm_sprites.data.wrap import parse_axes

    d = defaults
    tile_axes = parse_axes(tileable)
    if sdedit and sampler is None and steps is None and spacing is None:
        sampler, steps, spacing = d.vary_sampler, d.vary_steps, d.vary_spacing
    smp = sampler or d.sampler
    if smp not in SAMPLER_NAMES:
        raise UserError(f"unknown sampler '{smp}'; choose one of {', '.join(SAMPLER_NAMES)}")
    if steps is None:
        steps = d.steps if smp == d.sampler else \
            (timesteps if smp == "ddpm" else OTHER_SAMPLER_STEPS)
    if steps < 1:
        raise UserError(f"--steps {steps} must be >= 1")
    if smp == "ddpm":
        steps = min(steps, timesteps)
    # Class transfer works by strong classifier-free guidance alone (measured without a guide),
    # so it leaves the guide out unless asked.
    ag = resolve_autoguidance(1.0 if transfer else d.autoguidance, autoguidance, has_guide)
    default_guidance = d.transfer_guidance if transfer else d.guidance
    g = default_guidance if guidance is None else float(guidance)
    if g < 0:
        raise UserError(f"--guidance {g:g} must be >= 0 (1 = no guidance)")
    init = init_noise or d.init_noise
    if init not in INIT_NOISE:
        raise UserError(f"unknown init noise '{init}'; choose one of {', '.join(INIT_NOISE)}")
    spacing = spacing or (d.spacing if smp == d.sampler else OTHER_SAMPLER_SPACING)
    if spacing not in SPACINGS:
        raise UserError(f"unknown spacing '{spacing}'; choose one of {', '.join(SPACINGS)}")
    interval = parse_interval(guidance_interval)
    if interval is None:
        interval = d.guidance_interval
    elif interval == EVERY_STEP:
        interval = None
    return SamplingOptions(sampler=smp, steps=int(steps), guidance=g,
                           eta=d.eta if eta is None else float(eta), init_noise=init,
                           guidance_interval=interval, spacing=spacing, autoguidance=ag,
                           tileable=tile_axes)


def resolve_autoguidance(saved: float, user: float | None, has_guide: bool) -> float:
    """The autoguidance weight: the user's (None = not set) over the model's saved one; off (1)
    for a model without a guide unless the user asked for it, which is then an error."""
    w = float(saved) if user is None else float(user)
    if w < 1:
        raise UserError(f"--autoguidance {w:g} must be >= 1 (1 = off)")
    if w != 1 and not has_guide:
        if user is None:
            return 1.0
        raise UserError(f"--autoguidance {w:g} needs a model with a guide (guide.safetensors): "
                        "train it with diffusion.guide_step set, or add one with "
                        "`ldmsprites bundle RUN OUT --guide EARLY_CHECKPOINT`; or leave it out")
    return w
