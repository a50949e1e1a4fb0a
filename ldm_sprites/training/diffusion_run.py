"""Everything ``train-diffusion`` does, as a library call (the CLI and the examples share it)."""

from __future__ import annotations

from pathlib import Path

from ldm_sprites.config_loader import apply_overrides, check_values, from_saved
from ldm_sprites.diffusion.config import DiffusionConfig


def resolve_config(config_path, out_dir, resume: bool, overrides: dict):
    """The config to train with, and the AE directory a resumed run was using (or None).

    On ``resume`` the run's own saved config wins (same model, data and schedule); only the step
    budget and compilation may change (``resume.resolve_run_config``).
    """
    from ldm_sprites.training.resume import resolve_run_config

    cfg, saved = resolve_run_config(out_dir, resume, "diffusion", DiffusionConfig, config_path,
                                    overrides, ("train.steps", "train.compile"))
    return cfg, ((saved or {}).get("ae") or {}).get("path")


def run_diffusion_training(cfg: DiffusionConfig, data_dir, out_dir, ae_dir=None,
                           resume: bool = False, device: str | None = None, cache_dir=None,
                           stop_after: int | None = None, time_budget: float | None = None,
                           ) -> dict:
    """Load (cached) data, encode it with the AE in latent mode, build the DiT and train.

    ``time_budget``: seconds of training for the whole run instead of ``cfg.train.steps``."""
    from ldm_sprites.console import info
    from ldm_sprites.data.dataset import class_counts, load_sprite_data
    from ldm_sprites.finish.palette import training_palette_files
    from ldm_sprites.fsutil import ensure_dir
    from ldm_sprites.diffusion.task import DiffusionTask
    from ldm_sprites.training.trainer import seed_everything, train

    check_values(cfg)
    if cfg.model.wrap_condition and cfg.data.circular_shift:
        from ldm_sprites.errors import UserError

        raise UserError("--wrap-condition and --circular-shift are two ways to train tiles: "
                        "choose one (docs/tiles.md)")
    ensure_dir(out_dir)  # an unwritable --out fails now, not after decoding the data
    seed_everything(cfg.train.seed)
    latents = ae_info = autoencoder = None
    if ae_dir:
        from ldm_sprites.autoencoder import encode_dataset, load_autoencoder

        autoencoder = load_autoencoder(ae_dir, device=device)
        # The data must look like what the autoencoder was trained on.
        s = autoencoder.data_spec
        apply_overrides(cfg, {"data.size": s.size, "data.channels": s.channels,
                              "data.resample": s.resample, "data.background": s.background,
                              "data.hue_jitter": 0.0})
    d = cfg.data
    data = load_sprite_data(data_dir, d, cache_dir=cache_dir, max_bad_fraction=d.max_bad_fraction)
    counts = class_counts(data)
    info(f"{len(data)} sprites, " + (f"{len(counts)} classes: " + ", ".join(
        f"{k} {v}" for k, v in counts.items()) if counts else "unconditional"))
    if ae_dir:
        tiles = d.circular_shift or cfg.model.wrap_condition
        latents = encode_dataset(autoencoder, data, cache_dir=cache_dir, flip=d.flip,
                                 wrap=tiles, phases=d.circular_shift)
        ae_info = autoencoder.reference()
    task = DiffusionTask(cfg, data.images, data.labels, data.classes, latents=latents,
                         ae_info=ae_info, autoencoder=autoencoder)
    task.model_files = training_palette_files(data.images)  # palette.json & co. in checkpoints
    if task.wrap is not None:
        wx, wy = (int(v) for v in task.wrap.sum(0))
        info(f"wrap condition: {wx} of {len(data)} tiles wrap left-right, {wy} top-bottom "
             f"({int((task.wrap.sum(1) == 2).sum())} both)")
    n_params = sum(p.numel() for p in task.model.parameters())
    info(f"DiT {n_params / 1e6:.2f} M parameters, {task.model.config.num_tokens} tokens, "
         f"{task.model.flops_per_image() / 1e9:.3f} GFLOP per image forward")
    return train(task, cfg.train, Path(out_dir), resume=resume, device=device,
                 stop_after=stop_after, time_budget=time_budget)
