"""Options and helpers shared by several commands."""

from __future__ import annotations

import click

from ldm_sprites.diffusion.choices import INIT_NOISE, SAMPLER_NAMES, SPACINGS
from ldm_sprites.diffusion.config import DiffusionSection, SampleSection
from ldm_sprites.diffusion.options import EVERY_STEP, OTHER_SAMPLER_SPACING, OTHER_SAMPLER_STEPS
from ldm_sprites.runtime import BUNDLED_MODELS, DEFAULT_MODEL

# Every sampling option defaults to the model's saved value; what a model trained now saves is
# the schema's, so the help below is built from it and cannot drift from it.
NEW = SampleSection()
MODEL_HELP = (f"Model directory, training run or bundled model name ({', '.join(BUNDLED_MODELS)}; "
              f"default: {DEFAULT_MODEL}).")
_NEW = "for new models"
SAMPLER_HELP = ("dpmpp = DPM-Solver++(2M), dpmpp3m = DPM-Solver++(3M), unipc = UniPC (2nd order), "
                f"ddim, ddpm = ancestral. Default: the model's ({NEW.sampler} {_NEW}).")


def sampler_option(help: str = SAMPLER_HELP):
    """--sampler, its choices from ``diffusion/choices.py`` (every command that samples)."""
    return click.option("--sampler", type=click.Choice(SAMPLER_NAMES), default=None, help=help)


def steps_option(what: str = "Sampler steps"):
    """--steps of sampling (not training), its defaults from the schema."""
    return click.option(
        "--steps", type=click.IntRange(1, 10000), default=None,
        help=f"{what}. Default: the model's ({NEW.steps} with {NEW.sampler} {_NEW}); another "
             f"--sampler takes {OTHER_SAMPLER_STEPS}, ddpm all timesteps "
             f"({DiffusionSection().timesteps}).")


def guidance_option(extra: str = ""):
    return click.option(
        "--guidance", type=float, default=None,
        help=f"Classifier-free guidance scale (1 = off). Default: the model's ({NEW.guidance:g} "
             f"{_NEW}{extra}).")


def _interval_text(s: SampleSection) -> str:
    if s.guidance_interval is None:
        return "every step"
    lo, hi = s.guidance_interval
    return f"{lo:g},{hi:g}"


spacing_option = click.option(
    "--spacing", type=click.Choice(SPACINGS), default=None,
    help="Timestep spacing: uniform in t, karras (σ^(1/7)) or logsnr (uniform in log α/σ); "
         f"the last two suit few steps. Default: the model's ({NEW.spacing} {_NEW}); another "
         f"--sampler takes {OTHER_SAMPLER_SPACING}.")
eta_option = click.option(
    "--eta", type=float, default=None,
    help=f"DDIM noise (0 = deterministic). Default: the model's ({NEW.eta:g} {_NEW}).")
init_noise_option = click.option(
    "--init-noise", type=click.Choice(INIT_NOISE), default=None,
    help="harmonic: shrink the initial noise (helps models trained on very few sprites). "
         f"Default: the model's ({NEW.init_noise} {_NEW}).")
guidance_interval_option = click.option(
    "--guidance-interval", default=None, metavar="LO,HI",
    help="Guide only where sigma=sqrt((1-abar)/abar) is in (LO, HI] (e.g. 0.3,5); "
         f"'{EVERY_STEP}' guides every step. Default: the model's ({_interval_text(NEW)} {_NEW}).")
autoguidance_option = click.option(
    "--autoguidance", type=float, default=None, metavar="W",
    help="Autoguidance: guide + W*(model - guide) with the less-trained guide the model carries "
         f"(1 = off). Default: the model's ({NEW.autoguidance:g} {_NEW}) where it has a guide, "
         "off without one.")
tileable_option = click.option(
    "--tileable", is_flag=False, flag_value="xy", default=None, metavar="[xy|x|y]",
    help="Tiles that repeat without a seam: xy both ways (the default when given bare), x "
         "left-right only (walls, cliffs), y top-bottom only. Best with a model trained with "
         "--wrap-condition (or --circular-shift; docs/tiles.md).")
device_option = click.option(
    "--device", default=None, metavar="DEVICE",
    help="cpu or cuda (default: cuda when available, else cpu).")
seed_option = click.option("--seed", type=int, default=None, help="Random seed (default 0).")


def run_options(config_help: str, out_help: str):
    """--config, --data, --out: where a training run reads and writes (train-ae, train-diffusion)."""
    def decorate(fn):
        for opt in reversed([
            click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                         help=config_help),
            click.option("--data", "data_dir", required=True, type=click.Path(),
                         help="Folder of sprites: metadata.csv, one sub-folder per class, or flat."),
            click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                         help=out_help),
        ]):
            fn = opt(fn)
        return fn
    return decorate


def training_options(fn):
    """Step budget, batch, learning rate, checkpointing, resume and cache: shared by both trainers."""
    for opt in reversed([
        click.option("--steps", type=int, default=None, help="Total training steps."),
        click.option("--time-budget", default=None, metavar="DURATION",
                     help="Train for this long instead of --steps (30m, 2h, 90s, 1h30m): the step "
                          "count is planned from the measured speed; the run's total on --resume."),
        click.option("--batch-size", type=int, default=None),
        click.option("--lr", type=float, default=None, help="AdamW (peak) learning rate."),
        click.option("--size", type=int, default=None, help="Square sprite size in pixels."),
        click.option("--checkpoint-every", type=int, default=None),
        click.option("--resume", is_flag=True,
                     help="Continue the run in --out from its newest checkpoint."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Where decoded data is cached (default ~/.cache/ldm-sprites)."),
    ]):
        fn = opt(fn)
    return fn


def split_names(values: tuple[str, ...]) -> list[str]:
    """``--class fire --class water,ice`` -> ['fire', 'water', 'ice']."""
    out = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out
