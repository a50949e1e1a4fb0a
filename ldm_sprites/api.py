"""The Python API in one place: what the CLI does, as functions.

    from ldm_sprites import api
    api.write_demo_set("data/demo", n_per_class=100)
    run = api.train_diffusion("data/demo", "runs/px", config="configs/pixel-tiny.yaml",
                              label_column="type", steps=300)
    # latent mode: ae = api.train_ae("data/demo", "runs/ae", config="configs/demo-ae.yaml"),
    # then api.train_diffusion(..., config="configs/demo-dit.yaml", ae=ae)
    pipe = api.load_pipeline(run)
    sprites, names = api.generate(pipe, classes=["fire"], num=8, seed=0)
    api.export_sprites(api.sprites_to_export(sprites, names), "assets/fire")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ldm_sprites.demo_art import DEMO_CLASSES, make_demo_sprites, write_demo_set  # noqa: F401

# The export names resolve on first use (PEP 562): importing export pulls in scipy.ndimage and
# vtracer, ~0.5 s that `generate` and the studio's start would otherwise pay before any work.
_EXPORT_NAMES = ("ExportOptions", "Sprite", "export_sprites", "load_sprite_folder")


def __getattr__(name: str):
    if name in _EXPORT_NAMES:
        from ldm_sprites import export

        return getattr(export, name)
    raise AttributeError(f"module 'ldm_sprites.api' has no attribute '{name}'")

# Keywords of train_diffusion and train_ae -> dotted config keys: the shared train section and
# the data keys both stages have.
_TRAIN_OVERRIDES = {
    "steps": "train.steps", "batch_size": "train.batch_size", "lr": "train.lr",
    "seed": "train.seed", "checkpoint_every": "train.checkpoint_every",
    "sample_every": "train.sample_every", "log_every": "train.log_every",
    "warmup_steps": "train.warmup_steps", "cooldown": "train.cooldown",
    "ema_decay": "train.ema_decay",
    "mixed_precision": "train.mixed_precision", "compile": "train.compile", "size": "data.size",
    "channels": "data.channels", "flip": "data.flip", "resample": "data.resample",
}
# train_diffusion(**overrides)
_OVERRIDES = {
    **_TRAIN_OVERRIDES, "preset": "model.preset", "patch_size": "model.patch_size",
    "label_column": "data.label_column", "hue_jitter": "data.hue_jitter",
    "circular_shift": "data.circular_shift", "wrap_condition": "model.wrap_condition",
    "prediction": "diffusion.prediction", "schedule": "diffusion.schedule",
    "timestep_bias": "diffusion.timestep_bias", "min_snr_gamma": "diffusion.min_snr_gamma",
    "guidance": "sample.guidance", "sampler": "sample.sampler", "sample_steps": "sample.steps",
}
# train_ae(**overrides)
_AE_OVERRIDES = {
    **_TRAIN_OVERRIDES, "quantizer": "model.quantizer", "downsample": "model.downsample",
    "latent_channels": "model.latent_channels", "holdout": "data.holdout", "crop": "data.crop",
    "gan_weight": "loss.gan_weight", "output": "model.output", "init_from": "model.init_from",
    "freeze_encoder": "model.freeze_encoder",
}


def _run_settings(overrides: dict, names: dict, time_budget) -> tuple[dict, float | None]:
    """The ``**overrides`` of a train_* call -> (dotted config overrides, time budget in s)."""
    from ldm_sprites.errors import UserError
    from ldm_sprites.training.budget import check_exclusive

    budget_s = check_exclusive(overrides.get("steps"), None if time_budget is None else
                               (f"{time_budget}s" if isinstance(time_budget, (int, float))
                                else time_budget))
    unknown = set(overrides) - set(names)
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(sorted(unknown))}; "
                        f"valid: {', '.join(sorted(names))}")
    return {names[k]: v for k, v in overrides.items()}, budget_s


def train_ae(data, out, config=None, resume: bool = False, device=None, cache_dir=None,
             time_budget: str | float | None = None, **overrides) -> Path:
    """Train (or resume) a sprite autoencoder, stage one of latent diffusion, as ``ldmsprites
    train-ae`` does; returns the newest checkpoint directory (``ae=`` of ``train_diffusion``).

    ``overrides``: quantizer, downsample, latent_channels, output, init_from, freeze_encoder,
    holdout, crop, gan_weight and the
    training keywords of ``train_diffusion`` (steps, batch_size, lr, seed, size, ...);
    ``time_budget`` as there. On ``resume`` the run's saved config wins except for ``steps``.
    """
    from ldm_sprites.training.ae_run import resolve_ae_config, run_ae_training

    dotted, budget_s = _run_settings(overrides, _AE_OVERRIDES, time_budget)
    cfg = resolve_ae_config(config, out, resume, dotted)
    result = run_ae_training(cfg, data, out, resume=resume, device=device, cache_dir=cache_dir,
                             time_budget=budget_s)
    return Path(result["checkpoint"])


def train_diffusion(data, out, config=None, ae=None, resume: bool = False, device=None,
                    cache_dir=None, time_budget: str | float | None = None, **overrides) -> Path:
    """Train (or resume) a diffusion model; returns the newest checkpoint directory.

    ``ae``: an autoencoder run or checkpoint (``train_ae``) for a latent model.
    ``time_budget``: ``"30m"``, ``"2h"``, ``"1h30m"`` or seconds, instead of ``steps`` — the
    run's total training time, as ``--time-budget`` (see README).
    """
    from ldm_sprites.training.diffusion_run import resolve_config, run_diffusion_training

    dotted, budget_s = _run_settings(overrides, _OVERRIDES, time_budget)
    cfg, saved_ae = resolve_config(config, out, resume, dotted)
    result = run_diffusion_training(cfg, data, out, ae_dir=ae or saved_ae, resume=resume,
                                    device=device, cache_dir=cache_dir, time_budget=budget_s)
    return Path(result["checkpoint"])


def load_pipeline(model=None, device=None, weights: str = "ema", ae=None):
    """A ``DiffusionPipeline`` for a model directory or run (default: the bundled demo model).
    ``ae``: decode with this autoencoder instead of the recorded one (another decoder of the
    same latent space, ``train_ae(init_from=..., freeze_encoder=True)``)."""
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.runtime import model_path

    return DiffusionPipeline.from_pretrained(model_path(model), device=device,
                                             weights=weights, ae_path=ae)


def generate(pipe, classes: list[str] | None = None, num: int = 16, seed: int = 0,
             callback=None, batch_size: int = 64, noise=None, finish=None,
             **options) -> tuple[np.ndarray, list[str]]:
    """Sample ``num`` sprites spread over ``classes`` -> ((num, H, W, 4) uint8 RGBA, class names).

    ``options``: sampler, steps, guidance, eta, init_noise, guidance_interval, spacing,
    autoguidance, tileable ('xy', 'x', 'y': tiles that wrap) — any left out come from the
    model's saved sampling defaults, exactly as ``ldmsprites generate`` does; or ``options=``
    what ``pipe.sampling_options(...)`` resolved.
    ``finish``: a ``FinishOptions`` (default: on, in the model's palette) or ``"none"`` for the
    raw sampler output.
    """
    labels, names = pipe.spread_labels(classes, num)
    sprites = pipe.sprites(labels, finish=finish_options(finish), seed=seed,
                           batch_size=batch_size, callback=callback, noise=noise, **options)
    return sprites, names


def finish_options(finish=None):
    """``None`` | ``"auto"`` | ``"none"`` | ``FinishOptions`` -> ``FinishOptions``."""
    from ldm_sprites.finish import FinishOptions
    from ldm_sprites.finish.finish import options_from

    if isinstance(finish, FinishOptions):
        return finish
    return options_from(finish=None if finish is None else str(finish))


def sprites_to_export(sprites: np.ndarray, names: list[str], seed: int | None = None) -> list:
    from ldm_sprites.export import Sprite

    return [Sprite(name=f"{n}-{i:03d}", rgba=s, class_name=n, seed=seed, source=f"sample #{i}")
            for i, (s, n) in enumerate(zip(sprites, names))]


def vary(pipe, images, strength: float = 0.5, num: int = 1, classes: list[str] | None = None,
         seed: int = 0, callback=None, batch_size: int = 64, finish=None,
         keep_palette: bool = False, **options) -> tuple[np.ndarray, list[str]]:
    """``num`` variations of each of ``images`` (SDEdit) -> ((len(images)·num, H, W, 4) uint8
    RGBA, names), input by input; with ``classes``, class transfer ("this one, as fire").

    ``images``: files, folders, (H, W, 4) uint8 arrays, or a list of them, fitted like training
    data. ``strength`` 0 returns the inputs unchanged, 1 starts from pure noise (= generating).
    ``finish`` and ``options`` as for ``generate`` (``tileable``: variants of a tile that still
    wrap); ``keep_palette`` finishes in each input's own colours. Names are the target
    classes, or the inputs' names without ``classes``.
    """
    from ldm_sprites.diffusion.editing import vary_sprites

    r = vary_sprites(pipe, images, strength=strength, num=num, classes=classes, seed=seed,
                     batch_size=batch_size, callback=callback, finish=finish,
                     keep_palette=keep_palette, **options)
    return r.sprites, r.names


def inpaint(pipe, image, mask=None, region: str | None = None, num: int = 1,
            classes: list[str] | None = None, seed: int = 0, jumps: int = 2,
            jump_length: int | None = None, callback=None, batch_size: int = 64, finish=None,
            keep_palette: bool = False, **options) -> tuple[np.ndarray, list[str]]:
    """Redraw part of one sprite ``num`` times (RePaint) -> ((num, H, W, 4) uint8 RGBA, names).

    ``mask``: a PNG of the image's size (white, or opaque on a transparent layer = redraw) or an
    (h, w) array (non-zero = redraw); or ``region`` 'x,y,w,h'. Every pixel outside it is the
    input's, bit for bit. ``jumps``: RePaint resampling per segment of ``jump_length`` steps.
    """
    from ldm_sprites.diffusion.editing import inpaint_sprites

    r = inpaint_sprites(pipe, image, mask=mask, region=region, num=num, classes=classes,
                        seed=seed, jumps=jumps, jump_length=jump_length, batch_size=batch_size,
                        callback=callback, finish=finish, keep_palette=keep_palette, **options)
    return r.sprites, r.names
