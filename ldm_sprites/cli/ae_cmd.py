"""``ldmsprites train-ae``: stage one of latent diffusion."""

from __future__ import annotations

from pathlib import Path

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
@click.option("--channels", type=click.Choice(["3", "4"]), default=None,
              help="4 = RGBA (default), 3 = RGB composited on the config's background.")
@click.option("--holdout", type=float, default=None,
              help="Share of sprites held out for PSNR / IoU (default 0.1, split by --seed).")
@click.option("--sample-every", type=int, default=None,
              help="Write a reconstruction grid and held-out metrics every N steps (0: never).")
@seed_option
@device_option
def train_ae(config_path, data_dir, out_dir, label_column, quantizer, downsample, latent_channels,
             steps, batch_size, lr, size, channels, holdout, checkpoint_every, sample_every, resume,
             cache_dir, seed, device, time_budget):
    """Train a sprite autoencoder (stage one of latent diffusion)."""
    from ldm_sprites.training.budget import check_exclusive

    budget_s = check_exclusive(steps, time_budget)
    from ldm_sprites.autoencoder.config import AEConfig, check_config
    from ldm_sprites.autoencoder.task import AutoencoderTask
    from ldm_sprites.config import apply_overrides, from_dict, load_yaml
    from ldm_sprites.console import info
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.finish.palette import training_palette_files
    from ldm_sprites.modeldir import list_checkpoints, load_model_dir
    from ldm_sprites.training.trainer import seed_everything, train

    out = Path(out_dir)
    ckpts = list_checkpoints(out) if out.exists() else []
    if resume and ckpts:
        # The run's own config wins on resume; only the step budget may be raised.
        saved = load_model_dir(ckpts[-1], expect_kind="autoencoder").config
        cfg = from_dict(AEConfig, {k: saved[k] for k in ("model", "loss", "data", "train")})
        apply_overrides(cfg, {"train.steps": steps})
    else:
        cfg = from_dict(AEConfig, load_yaml(config_path) if config_path else {})
        apply_overrides(cfg, {
            "model.quantizer": quantizer, "model.downsample": int(downsample) if downsample else None,
            "model.latent_channels": latent_channels, "train.steps": steps,
            "train.batch_size": batch_size, "train.lr": lr, "train.seed": seed,
            "train.checkpoint_every": checkpoint_every, "train.sample_every": sample_every,
            "data.size": size, "data.channels": int(channels) if channels else None,
            "data.holdout": holdout,
        })
    check_config(cfg)
    from ldm_sprites.config import check_ranges

    check_ranges(cfg)
    if label_column:
        info(f"--label-column '{label_column}' ignored: the autoencoder is trained without labels")
    seed_everything(cfg.train.seed)
    d = cfg.data
    data = load_sprite_data(data_dir, DataSpec(d.size, d.channels, d.resample, d.background, None),
                            cache_dir=cache_dir, max_bad_fraction=d.max_bad_fraction)
    task = AutoencoderTask(cfg, data.images, data_dir)
    task.model_files = training_palette_files(data.images)  # palette.json & co. in checkpoints
    m = cfg.model
    n_params = sum(p.numel() for p in task.model.parameters())
    info(f"{len(data)} sprites ({task.n} train, {len(task.holdout_ids)} held out); {m.quantizer} "
         f"autoencoder, f={m.downsample}, latent {m.latent_channels}x{d.size // m.downsample}x"
         f"{d.size // m.downsample}, {n_params / 1e6:.2f} M parameters")
    result = train(task, cfg.train, out, resume=resume, device=device, time_budget=budget_s)
    final = task.heldout_metrics
    click.echo(f"trained {result['step']} steps; autoencoder: {result['checkpoint']}; "
               + ", ".join(f"{k} {v}" for k, v in final.items()))
