"""``ldmsprites eval``: FD, KID, memorisation and per-class counts of a trained model."""

from __future__ import annotations

from pathlib import Path

import click

from ldm_sprites.cli.common import (autoguidance_option, device_option, sampler_option,
                                    spacing_option)
from ldm_sprites.cli.finish_options import finish_options, to_finish_options


@click.command("eval")
@click.option("--model", "model_dir", required=True, type=click.Path(),
              help="Model directory or training run (newest checkpoint).")
@click.option("--data", "data_dir", required=True, type=click.Path(),
              help="The real sprites (usually the training data).")
@click.option("--out", "out_json", required=True, type=click.Path(dir_okay=False),
              help="JSON results; the neighbour PNG goes beside it as <name>-neighbours.png.")
@click.option("--num", type=click.IntRange(2, 100000), default=500, show_default=True,
              help="Sprites to generate.")
@click.option("--features",
              type=click.Choice(["efficientnet", "random-cnn", "offline", "inception"]),
              default="efficientnet", show_default=True,
              help="efficientnet: ImageNet-trained EfficientNet-Lite0, weights bundled in a "
                   "package (no download); random-cnn (old name: offline): fixed random CNN + "
                   "colour/alpha histograms, a fallback that can rank noise above sprites; "
                   "inception: Inception-v3, downloads its weights once.")
@click.option("--bootstrap", type=click.IntRange(0, 10000), default=50, show_default=True,
              help="Bootstrap resamples for the 95 % intervals of FD and of the real-vs-real "
                   "floor (0: no intervals).")
@click.option("--balance", type=click.Choice(["data", "uniform"]), default="data",
              show_default=True, help="Samples per class: like the data's class sizes, or equal.")
@click.option("--label-column", default=None,
              help="metadata.csv class column (default: the one the model was trained with).")
@sampler_option()
@spacing_option
@click.option("--steps", type=click.IntRange(1, 10000), default=None)
@click.option("--guidance", type=float, default=None)
@autoguidance_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--copy-percentile", type=click.FloatRange(0, 100), default=1.0, show_default=True,
              help="A sample closer to a training sprite than this percentile of train-train "
                   "nearest-neighbour distances counts as a copy.")
@click.option("--kid-subsets", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--kid-subset-size", type=click.IntRange(2, 100000), default=1000, show_default=True)
@click.option("--weights", type=click.Choice(["ema", "model"]), default="ema", show_default=True)
@click.option("--ae", "ae_dir", type=click.Path(), default=None,
              help="Decode with this autoencoder (e.g. another decoder of the model's latent "
                   "space) instead of the recorded one.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--samples", "samples_dir", type=click.Path(file_okay=False), default=None,
              help="Also write every scored sprite here as a PNG (NNNN-class.png): look at them.")
@finish_options()
@device_option
def eval_cmd(model_dir, data_dir, out_json, num, features, bootstrap, balance, label_column,
             sampler, spacing, steps, guidance, autoguidance, seed, batch_size, copy_percentile,
             kid_subsets, kid_subset_size, weights, ae_dir, cache_dir, samples_dir, device, **finish_flags):
    """Compare generated sprites with real ones: FD, KID, copies of training sprites."""
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.evaluation.cleanliness import format_table
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.memorization import neighbours_image
    from ldm_sprites.evaluation.run import evaluate, summary_line
    from ldm_sprites.fsutil import atomic_write_json, ensure_dir
    from ldm_sprites.image_files import save_png

    out = Path(out_json)
    ensure_dir(out.parent)
    extractor = get_extractor(features, device or "cpu")  # fails fast when Inception is offline
    pipe = DiffusionPipeline.from_pretrained(model_dir, device=device, weights=weights,
                                           ae_path=ae_dir)
    # The real sprites must look like the training data: the model's own size/channels/etc.
    spec = DataSpec.from_config(pipe.config.get("data"), label_column=label_column or None)
    data = load_sprite_data(data_dir, spec, cache_dir=cache_dir)
    # Only what the user set: eval scores the sprites `generate` draws with the same options.
    sample_kw = {"sampler": sampler, "steps": steps, "guidance": guidance, "spacing": spacing,
                 "autoguidance": autoguidance, "batch_size": batch_size,
                 "finish": to_finish_options(finish_flags)}
    used = pipe.sampling_options(sampler=sampler, steps=steps, guidance=guidance,
                                 spacing=spacing, autoguidance=autoguidance).as_dict()
    result, fake, real, mem = evaluate(pipe, data, extractor, num=num, balance=balance,
                                       sample_kw=sample_kw, seed=seed, percentile=copy_percentile,
                                       kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                                       bootstrap=bootstrap)
    if samples_dir:
        from ldm_sprites.evaluation.run import plan_labels
        from ldm_sprites.image_files import save_sprite

        names = pipe.classes or ["sprite"]
        labels = plan_labels(pipe.classes, data, num, balance)  # the labels evaluate() sampled
        for i, (rgba, lab) in enumerate(zip(fake, labels)):
            save_sprite(Path(ensure_dir(samples_dir)) / f"{i:04d}-{names[lab]}.png", rgba)
    png = out.with_name(out.stem + "-neighbours.png")
    save_png(png, neighbours_image(fake, real, mem))
    result.update({"model": str(model_dir), "data": str(data_dir), "neighbours_png": png.name,
                   **used, "finish": sample_kw["finish"].to_json()})
    atomic_write_json(out, result)
    m = result["memorization"]
    clean = result["cleanliness"]
    click.echo(format_table({f"generated ({result['num_generated']})": clean["generated"],
                             f"real ({result['num_real']})": clean["real"]}))
    click.echo(f"{summary_line(result)}, {kid_text(result)}; "
               f"copies {m['copies']}/{result['num_generated']}, variants of a training sprite "
               f"{m['variants']}/{result['num_generated']} -> {out}, {png}")


def kid_text(result: dict) -> str:
    """KID with its spread over subsets — none when a subset is the whole of both sets (every
    subset is then the same pair, and a "± 0" would read as a precise number)."""
    text = f"KID {result['kid_mean']:.5f}"
    whole = result["kid_subset_size"] >= max(result["num_generated"], result["num_real"])
    return text + (" (whole sets: no subset spread)" if whole else f" ± {result['kid_std']:.5f}")
