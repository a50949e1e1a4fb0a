"""``ldmsprites train-ae``: stage one of latent diffusion."""

from __future__ import annotations

import click

from ldm_sprites.cli.common import device_option, run_options, seed_option, training_options


@click.command("train-ae")
@run_options('YAML config (configs/ae-*.yaml); options below override it.',
             'Run directory: checkpoints (model directories), samples, log.jsonl, eval.jsonl.')
@training_options
@click.option("--label-column", default=None,
              help="Accepted for symmetry with train-diffusion; the autoencoder ignores labels.")
@click.option("--quantizer", type=click.Choice(["vq", "fsq", "kl"]), default=None,
              help="kl = continuous latents, vq = VectorQuantize codebook, fsq = finite scalar.")
@click.option("--downsample", type=click.Choice(["2", "4", "8"]), default=None,
              help="Spatial downsampling factor f (latent side = size / f).")
@click.option("--latent-channels", type=int, default=None, help="Channels of the latent.")
@click.option("--output", type=click.Choice(["rgb", "palette"]), default=None,
              help="Decoder output: rgb regresses colours; palette picks one of the training "
                   "palette's colours (or transparent) per pixel - hard alpha, no jitter.")
@click.option("--init-from", type=click.Path(exists=True, file_okay=False), default=None,
              help="Start from this autoencoder (run or model directory); new layers start fresh.")
@click.option("--freeze-encoder", is_flag=True, default=None,
              help="With --init-from: train only a new decoder for its latent space, so diffusion "
                   "models trained on that autoencoder work with the new one (--ae).")
@click.option("--channels", type=click.Choice(["3", "4"]), default=None,
              help="4 = RGBA (default), 3 = RGB composited on the config's background.")
@click.option("--holdout", type=float, default=None,
              help="Share of sprites held out for PSNR / IoU (default 0.1, split by --seed).")
@click.option("--sample-every", type=int, default=None,
              help="Write a reconstruction grid and held-out metrics every N steps (0: never).")
@seed_option
@device_option
def train_ae(config_path, data_dir, out_dir, label_column, quantizer, downsample, latent_channels,
             output, init_from, freeze_encoder, steps, batch_size, lr, size, channels, holdout,
             checkpoint_every, sample_every, resume,
             cache_dir, seed, device, time_budget):
    """Train a sprite autoencoder (stage one of latent diffusion)."""
    from ldm_sprites.console import info
    from ldm_sprites.training.ae_run import resolve_ae_config, run_ae_training
    from ldm_sprites.training.budget import check_exclusive

    budget_s = check_exclusive(steps, time_budget)
    cfg = resolve_ae_config(config_path, out_dir, resume, {
        "model.quantizer": quantizer, "model.downsample": int(downsample) if downsample else None,
        "model.latent_channels": latent_channels, "model.output": output,
        "model.init_from": init_from,
        "model.freeze_encoder": freeze_encoder or None, "train.steps": steps,
        "train.batch_size": batch_size, "train.lr": lr, "train.seed": seed,
        "train.checkpoint_every": checkpoint_every, "train.sample_every": sample_every,
        "data.size": size, "data.channels": int(channels) if channels else None,
        "data.holdout": holdout,
    })
    if label_column:
        info(f"--label-column '{label_column}' ignored: the autoencoder is trained without labels")
    result = run_ae_training(cfg, data_dir, out_dir, resume=resume, device=device,
                             cache_dir=cache_dir, time_budget=budget_s)
    click.echo(f"trained {result['step']} steps; autoencoder: {result['checkpoint']}; "
               + ", ".join(f"{k} {v}" for k, v in result["heldout_metrics"].items()))
