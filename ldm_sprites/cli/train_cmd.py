"""``ldmsprites train-diffusion``."""

from __future__ import annotations

from pathlib import Path

import click

from ldm_sprites.cli.common import device_option, seed_option


@click.command("train-diffusion")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML config (see configs/); options below override it.")
@click.option("--data", "data_dir", required=True, type=click.Path(),
              help="Folder of sprites: metadata.csv, one sub-folder per class, or flat.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run directory: checkpoints, samples, log.jsonl.")
@click.option("--label-column", default=None, help="metadata.csv column holding the class.")
@click.option("--ae", "ae_dir", default=None, type=click.Path(),
              help="Train in the latent space of this autoencoder (from train-ae).")
@click.option("--preset", default=None, help="DiT size preset: nano, tiny, small, ddpm, base.")
@click.option("--steps", type=int, default=None, help="Total training steps.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None, help="AdamW learning rate.")
@click.option("--size", type=int, default=None, help="Square sprite size in pixels.")
@click.option("--channels", type=click.Choice(["3", "4"]), default=None,
              help="4 = RGBA (default), 3 = RGB composited on --background.")
@click.option("--background", default=None, help="Background colour for --channels 3, e.g. '#ffffff'.")
@click.option("--resample", type=click.Choice(["nearest", "area", "lanczos"]), default=None,
              help="Resize filter (nearest keeps pixel art crisp).")
@click.option("--hue-jitter", type=float, default=None, help="Max random hue shift (fraction of 360°).")
@click.option("--flip/--no-flip", default=None, help="Random horizontal flips (default on).")
@click.option("--prediction", type=click.Choice(["eps", "v"]), default=None)
@click.option("--mixed-precision", type=click.Choice(["no", "bf16", "fp16"]), default=None,
              help="GPU only; ignored on CPU.")
@click.option("--checkpoint-every", type=int, default=None)
@click.option("--sample-every", type=int, default=None, help="Write a sample grid every N steps (0: never).")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="torch.compile the model: faster steps after minutes of compiling (long runs).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where decoded data is cached (default ~/.cache/ldm-sprites).")
@seed_option
@device_option
def train_diffusion(config_path, data_dir, out_dir, label_column, ae_dir, preset, steps, batch_size,
                    lr, size, channels, background, resample, hue_jitter, flip, prediction,
                    mixed_precision, checkpoint_every, sample_every, compile_, resume, cache_dir, seed, device):
    """Train a class-conditional diffusion transformer on a folder of sprites."""
    from ldm_sprites.config import apply_overrides, from_dict, load_config, DiffusionConfig
    from ldm_sprites.console import info
    from ldm_sprites.data.dataset import DataSpec, class_counts, load_sprite_data
    from ldm_sprites.errors import UserError
    from ldm_sprites.modeldir import list_checkpoints, load_model_dir
    from ldm_sprites.training.diffusion_task import DiffusionTask
    from ldm_sprites.training.trainer import seed_everything, train

    out = Path(out_dir)
    ckpts = list_checkpoints(out) if out.exists() else []
    if resume and ckpts:
        # The run's own config wins on resume (same model, data and schedule); only the step
        # budget may be raised to train longer.
        saved = load_model_dir(ckpts[-1]).config
        cfg = from_dict(DiffusionConfig, {k: saved[k] for k in
                                           ("model", "diffusion", "data", "train", "sample")
                                           if k in saved} | {"model": _model_section(saved)})
        apply_overrides(cfg, {"train.steps": steps, "train.compile": compile_})
        if saved.get("ae") and not ae_dir:
            ae_dir = saved["ae"].get("path")
    else:
        cfg = load_config(config_path)
        apply_overrides(cfg, {
            "model.preset": preset, "train.steps": steps, "train.batch_size": batch_size,
            "train.lr": lr, "train.seed": seed, "train.mixed_precision": mixed_precision,
            "train.checkpoint_every": checkpoint_every, "train.sample_every": sample_every,
            "train.compile": compile_,
            "data.size": size, "data.channels": int(channels) if channels else None,
            "data.background": background, "data.resample": resample,
            "data.label_column": label_column, "data.hue_jitter": hue_jitter, "data.flip": flip,
            "diffusion.prediction": prediction,
        })
    _check_ranges(cfg)
    seed_everything(cfg.train.seed)

    latents = ae_info = autoencoder = None
    if ae_dir:
        from ldm_sprites.autoencoder import encode_dataset, load_autoencoder

        autoencoder = load_autoencoder(ae_dir, device=device)
        # The data must look like what the autoencoder was trained on.
        apply_overrides(cfg, {"data.size": autoencoder.data_spec["size"],
                              "data.channels": autoencoder.data_spec["channels"],
                              "data.resample": autoencoder.data_spec["resample"],
                              "data.background": autoencoder.data_spec["background"],
                              "data.hue_jitter": 0.0})
    d = cfg.data
    spec = DataSpec(d.size, d.channels, d.resample, d.background, d.label_column)
    data = load_sprite_data(data_dir, spec, cache_dir=cache_dir, max_bad_fraction=d.max_bad_fraction)
    counts = class_counts(data)
    info(f"{len(data)} sprites, " + (f"{len(counts)} classes: " + ", ".join(
        f"{k} {v}" for k, v in counts.items()) if counts else "unconditional"))
    if ae_dir:
        latents = encode_dataset(autoencoder, data, cache_dir=cache_dir, flip=d.flip)
        ae_info = autoencoder.reference()
    task = DiffusionTask(cfg, data.images, data.labels, data.classes, latents=latents,
                         ae_info=ae_info, autoencoder=autoencoder)
    n_params = sum(p.numel() for p in task.model.parameters())
    info(f"DiT {n_params / 1e6:.2f} M parameters, {task.model.config.num_tokens} tokens, "
         f"{task.model.flops_per_image() / 1e9:.3f} GFLOP per image forward")
    result = train(task, cfg.train, out, resume=resume, device=device)
    click.echo(f"trained {result['step']} steps; model: {result['checkpoint']}")


def _model_section(saved: dict) -> dict:
    """Turn a saved (fully resolved) DiT config back into a config-file model section."""
    m = saved["model"]
    return {"preset": None, "patch_size": m["patch_size"], "hidden_size": m["hidden_size"],
            "depth": m["depth"], "num_heads": m["num_heads"], "mlp_ratio": m["mlp_ratio"],
            "class_dropout": m["class_dropout"]}


def _check_ranges(cfg) -> None:
    from ldm_sprites.errors import UserError

    t, d = cfg.train, cfg.data
    if t.steps < 1:
        raise UserError("--steps must be at least 1")
    if t.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if not (0 < t.lr < 1):
        raise UserError(f"--lr {t.lr} is out of range; typical values are 1e-4 to 1e-3")
    if d.size < 8 or d.size > 512:
        raise UserError(f"--size {d.size} is out of range (8 to 512 pixels)")
    if t.checkpoint_every < 1:
        raise UserError("checkpoint_every must be at least 1")
