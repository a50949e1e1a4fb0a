"""The autoguidance guide's one home: where a model directory keeps it, how it is built, loaded
and checked. The guide is the same network trained less (an early EMA snapshot of the run,
``diffusion.guide_step``, or ``bundle --guide``); ``guidance.GuidedDenoiser`` does the maths."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ldm_sprites.diffusion.config import GuideEntry, ModelSection, SavedDiffusion, read_saved
from ldm_sprites.diffusion.dit import DiT, build_dit
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import ModelDir, load_model_dir

GUIDE_FILE = "guide.safetensors"   # a model directory's guide weights (config key "guide")


def carries_guide(md: ModelDir) -> bool:
    """Whether the model directory ``md`` holds a guide: its config's ``guide`` entry and the
    weights file."""
    return bool(md.config.get("guide")) and (md.path / GUIDE_FILE).is_file()


def build_guide(model: ModelSection | dict, weights: dict, device) -> DiT:
    """A guide: the DiT of ``model`` (a resolved model section) holding ``weights``, frozen for
    sampling on ``device``."""
    arch = asdict(model) if isinstance(model, ModelSection) else dict(model)
    guide = build_dit(**arch)
    guide.load_state_dict(weights)
    return guide.eval().requires_grad_(False).to(device)


def load_guide(md: ModelDir, config: SavedDiffusion, device) -> DiT | None:
    """The guide the model directory ``md`` (read as ``config``) carries, or None."""
    if config.guide is None or not (md.path / GUIDE_FILE).is_file():
        return None
    weights = md.weights("guide")
    try:
        return build_guide(config.guide.model, weights, device)
    except (TypeError, RuntimeError) as exc:
        raise UserError(f"{md.path}: the guide's config section and {GUIDE_FILE} do not match "
                        f"({type(exc).__name__}); bundle the guide again") from None


def _latent_space(config: SavedDiffusion):
    ae = config.ae
    return None if ae is None else (ae.encoder or ae.hash)


def guide_from(config: SavedDiffusion, classes: list[str], path: str | Path) -> tuple[GuideEntry, dict]:
    """(config entry, EMA weights) of the model directory ``path`` as the guide of the model with
    this ``config`` and ``classes``: the same task (classes, latent space, schedule, prediction,
    input) trained less; an error naming the first difference otherwise."""
    g = load_model_dir(path, expect_kind="diffusion")
    theirs = read_saved(g.config, f"{g.path}/config.json")
    a, b = config, theirs
    checks = {
        "classes": (list(classes), g.classes),
        "latent space": (_latent_space(a), _latent_space(b)),
        "prediction": (a.diffusion.prediction, b.diffusion.prediction),
        "schedule": ((a.diffusion.schedule, a.diffusion.timesteps),
                     (b.diffusion.schedule, b.diffusion.timesteps)),
        "input": ((a.model.in_channels, a.model.input_size, a.model.num_classes),
                  (b.model.in_channels, b.model.input_size, b.model.num_classes)),
    }
    for what, (mine, other) in checks.items():
        if mine != other:
            raise UserError(f"--guide {g.path} cannot guide this model: its {what} differs "
                            f"({other} vs {mine}); use an earlier checkpoint of the same run")
    return GuideEntry(model=b.model, step=b.step, source=str(g.path)), g.weights("ema")
