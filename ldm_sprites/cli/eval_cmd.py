"""``ldmsprites eval``: FD, KID, memorisation and per-class counts of a trained model; with
``--curve RUN`` the quality of every checkpoint along a run, with ``--denoiser RUN`` the error of
its denoiser by noise level."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from ldm_sprites.cli.common import (autoguidance_option, device_option, guidance_option,
                                    sampler_option, spacing_option, steps_option,
                                    tileable_option)
from ldm_sprites.cli.finish_options import FINISH_PARAMS, finish_options, to_finish_options
from ldm_sprites.errors import UserError

# Which options each mode reads; one set on the command line for a mode that ignores it is an
# error rather than silently nothing.
MODEL_ONLY = {"copy_percentile", "kid_subsets", "kid_subset_size", "samples_dir", "sheet_size"}
SAMPLING = {"features", "bootstrap", "balance", "label_column", "sampler", "spacing", "steps",
            "guidance", "autoguidance", "batch_size", *FINISH_PARAMS}
IGNORED = {"model": {"every", "threads", "guide", "timesteps"},
           "curve": MODEL_ONLY | {"timesteps", "tileable"},
           "denoiser": MODEL_ONLY | SAMPLING | {"threads", "guide"}}
DEFAULT_NUM = {"model": 500, "curve": 192, "denoiser": 96}


@click.command("eval")
@click.option("--model", "model_dir", default=None, type=click.Path(),
              help="Model directory, training run (newest checkpoint) or bundled model name to score.")
@click.option("--curve", "curve_runs", multiple=True, type=click.Path(), metavar="RUN",
              help="Instead of --model: score every checkpoint of this training run (repeatable; "
                   "see --every): FD, cleanliness raw and finished, class agreement and CPU "
                   "minutes per checkpoint -> a table, --out JSON and a PNG beside it.")
@click.option("--denoiser", "denoiser_runs", multiple=True, type=click.Path(), metavar="RUN",
              help="Instead of --model: the RMSE of x̂0 on --num real sprites noised to each "
                   "--t, per checkpoint of this run (repeatable) -> a table and --out JSON.")
@click.option("--data", "data_dir", required=True, type=click.Path(),
              help="The real sprites (usually the training data).")
@click.option("--out", "out_json", required=True, type=click.Path(dir_okay=False),
              help="JSON results; the neighbour PNG goes beside it as <name>-neighbours.png "
                   "(--curve: the plot as <name>.png).")
@click.option("--num", type=click.IntRange(2, 100000), default=None,
              help="Sprites to generate (per checkpoint with --curve; to denoise with "
                   "--denoiser). Default: 500; --curve 192; --denoiser 96.")
@click.option("--features",
              type=click.Choice(["efficientnet", "random-cnn", "inception"]),
              default="efficientnet", show_default=True,
              help="efficientnet: ImageNet-trained EfficientNet-Lite0, weights bundled in a "
                   "package (no download); random-cnn: fixed random CNN + "
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
@steps_option()
@guidance_option()
@autoguidance_option
@tileable_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--copy-percentile", type=click.FloatRange(0, 100), default=1.0, show_default=True,
              help="A sample closer to a training sprite than this percentile of train-train "
                   "nearest-neighbour distances counts as a copy.")
@click.option("--sheet-size", type=click.IntRange(0, 100000), default=8, show_default=True,
              help="With a shared palette (on for --tileable): finish the samples in sheets of "
                   "this many variants of one class, each in its own palette, as "
                   "`generate --class C --num 8` makes them (0: all --num in one palette).")
@click.option("--kid-subsets", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--kid-subset-size", type=click.IntRange(2, 100000), default=1000, show_default=True)
@click.option("--weights", type=click.Choice(["ema", "model"]), default="ema", show_default=True)
@click.option("--ae", "ae_dir", type=click.Path(), default=None,
              help="Decode with this autoencoder (e.g. another decoder of the model's latent "
                   "space) instead of the recorded one.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--samples", "samples_dir", type=click.Path(file_okay=False), default=None,
              help="Also write every scored sprite here as a PNG (NNNN-class.png): look at them.")
@click.option("--every", type=click.IntRange(1, 100000), default=1, show_default=True,
              help="--curve/--denoiser: every N-th checkpoint (and always the newest).")
@click.option("--threads", type=click.IntRange(1, 4096), default=1, show_default=True,
              help="--curve: CPU threads the run trained with (CPU minutes = saved training "
                   "time x threads, the autoencoder's included).")
@click.option("--guide", "guide_dir", type=click.Path(), default=None,
              help="--curve: guide the checkpoints with the EMA of this model directory (an "
                   "early checkpoint of the run, as bundle --guide) for --autoguidance.")
@click.option("--t", "timesteps", default=None, metavar="T,T,...",
              help="--denoiser: timesteps to noise to (default 100,300,500,700).")
@finish_options()
@device_option
@click.pass_context
def eval_cmd(ctx, model_dir, curve_runs, denoiser_runs, every, threads, guide_dir, timesteps,
             **kwargs):
    """Compare generated sprites with real ones: FD, KID, copies of training sprites.

    \b
    ldmsprites eval --model M --data D --out eval.json      one model
    ldmsprites eval --curve RUN --data D --out curve.json   every checkpoint of a run
    ldmsprites eval --denoiser RUN --data D --out den.json  x̂0 error by noise level
    """
    mode = _mode(model_dir, curve_runs, denoiser_runs)
    ignored = sorted(name for name in IGNORED[mode]
                     if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                                           ParameterSource.ENVIRONMENT))
    if ignored:
        flag = next(p.opts[0] for p in ctx.command.params if p.name == ignored[0])
        used = {"model": "--model", "curve": "--curve", "denoiser": "--denoiser"}[mode]
        raise UserError(f"{flag} does not apply to eval {used}; leave it out")
    if kwargs["num"] is None:
        kwargs["num"] = DEFAULT_NUM[mode]
    if mode == "curve":
        return _curve(curve_runs, every, threads, guide_dir, **kwargs)
    if mode == "denoiser":
        return _denoiser(denoiser_runs, every, timesteps, **kwargs)
    return _model(model_dir, **kwargs)


def _mode(model_dir, curve_runs, denoiser_runs) -> str:
    given = [name for name, value in (("model", model_dir), ("curve", curve_runs),
                                      ("denoiser", denoiser_runs)) if value]
    if len(given) > 1:
        raise UserError(f"--{given[0]} and --{given[1]} are different evaluations; give one "
                        "(run eval twice for both)")
    if not given:
        raise UserError("eval needs what to score: --model M (one model), --curve RUN (every "
                        "checkpoint of a run) or --denoiser RUN (its x̂0 error by noise level)")
    return given[0]


def _run_specs(paths, ae_dir, guide_dir=None):
    from ldm_sprites.evaluation.curve import RunSpec

    return [RunSpec(str(p), Path(p), ae_dir, guide_dir) for p in paths]


def _curve(runs, every, threads, guide_dir, *, data_dir, out_json, num, features, bootstrap,
           balance, label_column, sampler, spacing, steps, guidance, autoguidance, seed,
           batch_size, weights, ae_dir, cache_dir, device, **finish_flags):
    from ldm_sprites.evaluation.curve import curve_markdown, plot_curve, quality_curve
    from ldm_sprites.fsutil import atomic_write_json, ensure_dir

    out = Path(out_json)
    png = out.with_suffix(".png")
    if png == out:
        raise UserError(f"--out {out} names the JSON file (e.g. curve.json); the plot goes "
                        "beside it as <name>.png")
    finish = to_finish_options(finish_flags)
    overrides = {"sampler": sampler, "steps": steps, "spacing": spacing, "guidance": guidance,
                 "autoguidance": autoguidance}
    results = quality_curve(_run_specs(runs, ae_dir, guide_dir), data_dir, num=num, every=every,
                            threads=threads, seed=seed, label_column=label_column or None,
                            overrides=overrides, features=features, balance=balance,
                            bootstrap=bootstrap, batch_size=batch_size, finish=finish,
                            device=device, weights=weights, cache_dir=cache_dir)
    results.update({"data": str(data_dir), "every": every, "seed": seed, "png": png.name,
                    "finish": finish.to_json()})
    ensure_dir(out.parent)
    atomic_write_json(out, results)
    plot_curve(results, png)
    click.echo(curve_markdown(results))
    click.echo(f"-> {out}, {png}")


def _denoiser(runs, every, timesteps, *, data_dir, out_json, num, seed, weights, ae_dir,
              cache_dir, device, **_sampling):
    from ldm_sprites.evaluation.denoiser import (DEFAULT_T, denoiser_errors, denoiser_markdown,
                                                 parse_timesteps)
    from ldm_sprites.fsutil import atomic_write_json, ensure_dir

    ts = parse_timesteps(timesteps) if timesteps is not None else list(DEFAULT_T)
    results = denoiser_errors(_run_specs(runs, ae_dir), data_dir, num=num, timesteps=ts,
                              every=every, seed=seed, device=device, weights=weights,
                              cache_dir=cache_dir)
    results["data"] = str(data_dir)
    out = Path(out_json)
    ensure_dir(out.parent)
    atomic_write_json(out, results)
    click.echo(denoiser_markdown(results))
    click.echo(f"-> {out}")


def _model(model_dir, *, data_dir, out_json, num, features, bootstrap, balance, label_column,
           sampler, spacing, steps, guidance, autoguidance, tileable, seed, batch_size,
           copy_percentile, sheet_size,
           kid_subsets, kid_subset_size, weights, ae_dir, cache_dir, samples_dir, device,
           **finish_flags):
    """``eval --model``: one model's FD, KID, cleanliness, copies and per-class counts."""
    from dataclasses import asdict

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
    spec = DataSpec.from_config(asdict(pipe.config.data), label_column=label_column or None)
    data = load_sprite_data(data_dir, spec, cache_dir=cache_dir)
    # Only what the user set: eval scores the sprites `generate` draws with the same options.
    opts = pipe.sampling_options(sampler=sampler, steps=steps, guidance=guidance,
                                 spacing=spacing, autoguidance=autoguidance, tileable=tileable)
    # Tiles of one sheet share a palette, as `generate --tileable` finishes them.
    sample_kw = {"options": opts, "batch_size": batch_size,
                 "finish": to_finish_options(finish_flags,
                                             shared_default=opts.tileable is not None)}
    used = opts.as_dict()
    result, fake, real, mem = evaluate(pipe, data, extractor, num=num, balance=balance,
                                       sample_kw=sample_kw, seed=seed, percentile=copy_percentile,
                                       kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                                       bootstrap=bootstrap, sheet_size=sheet_size)
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
    if "seam" in result:
        seam = result["seam"]
        click.echo(f"seam score (tileable {opts.tileable}; 1 = no visible edge): generated "
                   f"{seam['generated']['seam']:.3f}, real {seam['real']['seam']:.3f}")
    if "feature_nn_same_class_share" in result:
        click.echo(f"nearest real sprite of the class asked for: "
                   f"{100 * result['feature_nn_same_class_share']:.1f} % of samples (real sprites: "
                   f"{100 * result['real_feature_nn_same_class_share']:.1f} %; pixels: "
                   f"{100 * result['nn_same_class_share']:.1f} %)")


def kid_text(result: dict) -> str:
    """KID with its spread over subsets — none when a subset is the whole of both sets (every
    subset is then the same pair, and a "± 0" would read as a precise number)."""
    text = f"KID {result['kid_mean']:.5f}"
    whole = result["kid_subset_size"] >= max(result["num_generated"], result["num_real"])
    return text + (" (whole sets: no subset spread)" if whole else f" ± {result['kid_std']:.5f}")
