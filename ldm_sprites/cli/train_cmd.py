"""``ldmsprites train-diffusion``."""

from __future__ import annotations

import click

from ldm_sprites.cli.common import device_option, run_options, seed_option, training_options


@click.command("train-diffusion")
@run_options('YAML config (see configs/); options below override it.',
             'Run directory: checkpoints, samples, log.jsonl.')
@training_options
@click.option("--label-column", default=None, help="metadata.csv column holding the class.")
@click.option("--ae", "ae_dir", default=None, type=click.Path(),
              help="Train in the latent space of this autoencoder (from train-ae).")
@click.option("--preset", default=None, help="DiT size preset: nano, tiny, small, ddpm, base.")
@click.option("--channels", type=click.Choice(["3", "4"]), default=None,
              help="4 = RGBA (default), 3 = RGB composited on --background.")
@click.option("--background", default=None, help="Background colour for --channels 3, e.g. '#ffffff'.")
@click.option("--resample", type=click.Choice(["nearest", "area", "lanczos"]), default=None,
              help="Resize filter (nearest keeps pixel art crisp).")
@click.option("--hue-jitter", type=float, default=None, help="Max random hue shift (fraction of 360°).")
@click.option("--flip/--no-flip", default=None, help="Random horizontal flips (default on).")
@click.option("--circular-shift/--no-circular-shift", default=None,
              help="Tiles: train on random wrap-around shifts of each tile, so the model learns "
                   "tiles that repeat (default off; docs/tiles.md).")
@click.option("--wrap-condition/--no-wrap-condition", default=None,
              help="Tiles: a DiT without an edge, told which training tiles wrap; "
                   "generate --tileable then asks for tiles that wrap and keeps the data's "
                   "phase (default off; docs/tiles.md).")
@click.option("--prediction", type=click.Choice(["eps", "v"]), default=None)
@click.option("--mixed-precision", type=click.Choice(["no", "bf16", "fp16"]), default=None,
              help="GPU only; ignored on CPU.")
@click.option("--sample-every", type=int, default=None, help="Write a sample grid every N steps (0: never).")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="torch.compile the model: faster steps after minutes of compiling (long runs).")
@seed_option
@device_option
def train_diffusion(config_path, data_dir, out_dir, label_column, ae_dir, preset, steps, batch_size,
                    lr, size, channels, background, resample, hue_jitter, flip, circular_shift,
                    wrap_condition, prediction,
                    mixed_precision, checkpoint_every, sample_every, compile_, resume, cache_dir, seed, device,
                    time_budget):
    """Train a class-conditional diffusion transformer on a folder of sprites."""
    from ldm_sprites.training.budget import check_exclusive
    from ldm_sprites.training.diffusion_run import resolve_config, run_diffusion_training

    budget_s = check_exclusive(steps, time_budget)

    cfg, saved_ae = resolve_config(config_path, out_dir, resume, {
        "model.preset": preset, "train.steps": steps, "train.batch_size": batch_size,
        "train.lr": lr, "train.seed": seed, "train.mixed_precision": mixed_precision,
        "train.checkpoint_every": checkpoint_every, "train.sample_every": sample_every,
        "train.compile": compile_,
        "data.size": size, "data.channels": int(channels) if channels else None,
        "data.background": background, "data.resample": resample,
        "data.label_column": label_column, "data.hue_jitter": hue_jitter, "data.flip": flip,
        "data.circular_shift": circular_shift, "model.wrap_condition": wrap_condition,
        "diffusion.prediction": prediction,
    })
    result = run_diffusion_training(cfg, data_dir, out_dir, ae_dir=ae_dir or saved_ae,
                                    resume=resume, device=device, cache_dir=cache_dir,
                                    time_budget=budget_s)
    click.echo(f"trained {result['step']} steps; model: {result['checkpoint']}")

