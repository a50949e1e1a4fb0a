"""``ldmsprites bundle``: a self-contained, shareable model directory from a training run."""

from __future__ import annotations

import click


def _interval(ctx, param, value):
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LO,HI (two numbers)") from None
    return lo, hi


@click.command("bundle", short_help="Make a shareable model directory from a training run.")
@click.argument("run", type=click.Path())
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--fp32", is_flag=True, help="Keep fp32 weights (twice the size).")
@click.option("--sample-steps", type=int, default=None,
              help="Store this step count as the model's sampling default.")
@click.option("--guidance-interval", default=None, metavar="LO,HI", callback=_interval,
              help="Store this guidance interval (sigma) as the model's sampling default.")
@click.option("--ae", "ae_dir", type=click.Path(exists=True), default=None,
              help="Bundle this decoder of the model's latent space (train-ae --freeze-encoder) "
                   "instead of the autoencoder it was trained with.")
@click.option("--guide", "guide_dir", type=click.Path(exists=True), default=None,
              help="Store this earlier checkpoint of the run (or another, less trained model of "
                   "the same task) as the guide of autoguidance.")
@click.option("--guidance", type=click.FloatRange(min=1), default=None,
              help="Store this classifier-free guidance scale as the model's sampling default "
                   "(1 = off).")
@click.option("--autoguidance", type=click.FloatRange(min=1), default=None,
              help="Store this autoguidance weight as the model's sampling default (1 = off).")
@click.option("--credits", "credits_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="A Markdown file saying whose art the model learned, stored as "
                                 "CREDITS.md (shown by info; kept when a model is bundled again).")
def bundle(run, out, fp32, sample_steps, guidance_interval, ae_dir, guide_dir, guidance,
           autoguidance, credits_file):
    """Make a self-contained model directory OUT from the training run RUN.

    Keeps config, classes, the palette files, the EMA weights and the autoguidance guide (fp16
    unless --fp32), drops the raw weights and the train state, and copies a latent model's
    autoencoder inside as ae/, so OUT works wherever it is copied. This is how the bundled demo
    model is made.
    """
    import json

    from ldm_sprites.diffusion.bundle import bundle_model
    from ldm_sprites.modeldir import load_model_dir

    sample = {}
    if sample_steps:
        sample["steps"] = sample_steps
    if guidance_interval:
        lo, hi = guidance_interval
        sample.update(guidance_sigma_min=lo, guidance_sigma_max=hi)
    if guidance is not None:
        sample["guidance"] = guidance
    if autoguidance is not None:
        sample["autoguidance"] = autoguidance
    path = bundle_model(run, out, fp16=not fp32, sample=sample, ae=ae_dir, guide=guide_dir,
                        credits=credits_file)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    click.echo(f"bundled {run} -> {path} ({size / 1e6:.1f} MB)")
    click.echo(json.dumps(load_model_dir(path).config.get("ae"), indent=None))
