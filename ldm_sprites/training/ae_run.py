"""Everything ``train-ae`` does, as a library call (the CLI and ``api.train_ae`` share it)."""

from __future__ import annotations

from pathlib import Path

from ldm_sprites.autoencoder.config import AEConfig

# What ``--resume`` may still change in a run's saved config.
RESUME_KEYS = ("train.steps",)
# Sections a run started with --init-from takes from its source (then the YAML, then flags).
SOURCE_SECTIONS = ("model", "loss", "data")


def resolve_ae_config(config_path, out_dir, resume: bool, overrides: dict) -> AEConfig:
    """The config to train with: the YAML at ``config_path`` with ``overrides`` (dotted keys),
    or on ``resume`` the run's own saved config (``resume.resolve_run_config``).

    A new run with ``model.init_from`` starts from the source autoencoder's model, loss and data
    sections (its weights only fit its architecture), with the YAML and the overrides on top: a
    new decoder for an existing autoencoder needs no config file."""
    from ldm_sprites.config_loader import apply_overrides, from_dict, load_yaml
    from ldm_sprites.modeldir import load_model_dir
    from ldm_sprites.training.resume import resolve_run_config

    cfg, saved = resolve_run_config(out_dir, resume, "autoencoder", AEConfig, config_path,
                                    overrides, RESUME_KEYS)
    if saved is not None or not cfg.model.init_from:
        return cfg
    # Recorded in the run's config: an absolute path, whatever directory the run started in.
    overrides = {**overrides, "model.init_from": str(Path(cfg.model.init_from).resolve())}
    source = load_model_dir(overrides["model.init_from"], expect_kind="autoencoder").config
    own = load_yaml(config_path) if config_path else {}
    merged = {sec: {**(source.get(sec) or {}), **(own.get(sec) or {})} for sec in SOURCE_SECTIONS}
    # What made the source (its own start, its palette) is not part of the new run.
    for key in ("init_from", "freeze_encoder", "palette", "palette_size", "output"):
        if key not in (own.get("model") or {}):
            merged["model"].pop(key, None)
    merged["train"] = own.get("train") or {}
    return apply_overrides(from_dict(AEConfig, merged), overrides)


def run_ae_training(cfg: AEConfig, data_dir, out_dir, resume: bool = False,
                    device: str | None = None, cache_dir=None, stop_after: int | None = None,
                    time_budget: float | None = None) -> dict:
    """Check the config, load (cached) data, build the autoencoder and train it.

    Returns the trainer's result plus ``heldout_metrics`` of the last evaluation.
    ``time_budget``: seconds of training for the whole run instead of ``cfg.train.steps``."""
    from ldm_sprites.autoencoder.config import check_config
    from ldm_sprites.autoencoder.task import AutoencoderTask
    from ldm_sprites.console import info
    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.finish.palette import palette_files_for, training_palette
    from ldm_sprites.training.trainer import seed_everything, train

    check_config(cfg)   # every field's choices and range, and the checks between fields
    seed_everything(cfg.train.seed)
    d = cfg.data
    data = load_sprite_data(data_dir, d, cache_dir=cache_dir, max_bad_fraction=d.max_bad_fraction)
    palette = training_palette(data.images)
    if cfg.model.output == "palette" and not cfg.model.palette:
        # The decoder's choices: the training data's palette (saved in the config with the model).
        # With soft shadows or glows in the data its soft colours ("#rrggbbaa") are choices too.
        saved = palette.to_json()
        if cfg.model.palette_size:
            saved["colors"] = saved["colors"][:cfg.model.palette_size]
        cfg.model.palette = saved["colors"] + saved["soft"]
        soft = f", {len(saved['soft'])} soft ones" if saved["soft"] else ""
        info(f"palette output: {len(saved['colors'])} colours of the training data{soft} + "
             "transparent")
    task = AutoencoderTask(cfg, data.images, data_dir)
    task.model_files = palette_files_for(palette)   # palette.json & co. in checkpoints
    m = cfg.model
    n_params = sum(p.numel() for p in task.model.parameters())
    info(f"{len(data)} sprites ({task.n} train, {len(task.holdout_ids)} held out); {m.quantizer} "
         f"autoencoder, f={m.downsample}, latent {m.latent_channels}x{d.size // m.downsample}x"
         f"{d.size // m.downsample}, {n_params / 1e6:.2f} M parameters")
    result = train(task, cfg.train, Path(out_dir), resume=resume, device=device,
                   stop_after=stop_after, time_budget=time_budget)
    return dict(result, heldout_metrics=task.heldout_metrics)
