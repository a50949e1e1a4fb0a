"""Quality per CPU minute: FD and cleanliness of samples from the checkpoints along training runs.

    python -m benchmarks.bench_quality --data SPRITES --label-column type1 \
        --run latent=runs/dit --run pixel=runs/px [--num 192] [--every 2] \
        [--png quality.png] [--json quality.json]

Loss curves do not show what a user sees, so for every checkpoint of each run (every
``--every``-th, plus the last) this samples ``--num`` sprites with the model's own sampling
defaults, in the data's class proportions (as ``ldmsprites eval``), and reports:

* CPU minutes: the training seconds the checkpoint saved (``train_state.pt``'s ``elapsed_s``)
  times the threads the run used (``--threads``, 1 for the recommended one-run-per-core setup),
  plus, for latent runs, the autoencoder's own training time read the same way — the whole
  recipe's cost, not the DiT's alone;
* FD (EfficientNet-Lite0 features, as ``eval``) against the data, with the real-vs-real floor;
* cleanliness (``evaluation.cleanliness``: isolated pixels, soft alpha, visible colours; median
  per sprite) of the raw sampler output and of the finished sprites users get;
* class agreement (conditional models): the share of samples whose features lie nearest the
  real sprites of the class they were asked for — what guidance does to class identity, next to
  the real sprites' own share.

``--guidance``/``--autoguidance`` (and the sampler flags) override the checkpoints' saved
sampling defaults; ``--guide NAME=DIR`` guides run NAME with the EMA of DIR (an early checkpoint
of the same run, as ``bundle --guide``) — autoguidance before bundling.

Output: a markdown table on stdout, the numbers as JSON, and a PNG with FD and isolated pixels
against CPU minutes, one line per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ldm_sprites.modeldir import list_checkpoints


def train_seconds(model_dir: Path) -> float:
    """Training seconds saved with a checkpoint (0 when it predates the budget feature)."""
    state = model_dir / "train_state.pt"
    if not state.exists():
        return 0.0
    return float(torch.load(state, map_location="cpu", weights_only=False).get("elapsed_s", 0.0))


def autoencoder_seconds(pipe) -> float:
    """The autoencoder's training seconds: its newest checkpoint beside the exported AE dir, plus
    those of the autoencoder it started from (``model.init_from``: a decoder trained for a frozen
    encoder costs the encoder's training too)."""
    if pipe.autoencoder is None:
        return 0.0
    return _ae_dir_seconds(Path(pipe.autoencoder.path), pipe.autoencoder.config)


def _ae_dir_seconds(path: Path, config: dict, depth: int = 0) -> float:
    # A checkpoint (config.json) or a run directory (its newest checkpoint's config.json).
    run = path.parent.parent if path.parent.name == "checkpoints" else path
    ckpts = list_checkpoints(run)
    seconds = train_seconds(ckpts[-1]) if ckpts else train_seconds(path)
    source = (config.get("model") or {}).get("init_from")
    if source and depth < 8 and Path(source).exists() and Path(source).resolve() != path.resolve():
        from ldm_sprites.modeldir import load_model_dir

        md = load_model_dir(source, expect_kind="autoencoder")
        seconds += _ae_dir_seconds(md.path, md.config, depth + 1)
    return seconds


def checkpoints(run: Path, every: int) -> list[Path]:
    found = list_checkpoints(run)
    if not found:
        raise SystemExit(f"{run} has no checkpoints/step-* folders")
    picked = found[every - 1::every]
    return picked if picked and picked[-1] == found[-1] else picked + [found[-1]]


def score(pipe, labels, data_feats, extractor, seed: int, data_labels=None, **options) -> dict:
    """``options``: sampling options over the model's saved defaults (sampler, steps, spacing,
    guidance, autoguidance). With ``data_labels`` (the real sprites' classes) each set also gets
    its class agreement (``evaluation.metrics.class_agreement``)."""
    from ldm_sprites.evaluation.cleanliness import cleanliness_summary
    from ldm_sprites.evaluation.metrics import bootstrap_fd, class_agreement

    raw = pipe.to_rgba(pipe.sample(labels, seed=seed, **options))
    done = pipe.finish(raw)
    out = {}
    for name, sprites in (("raw", raw), ("finished", done)):
        feats = extractor(sprites)
        fd = bootstrap_fd(feats, data_feats, seed=seed)
        out[name] = {"fd": fd["fd"], "fd_ci95": fd["ci95"],
                     "cleanliness": cleanliness_summary(sprites)}
        if data_labels is not None and pipe.classes:
            out[name]["class_agreement"] = class_agreement(feats, labels, data_feats, data_labels)
    return out


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for run, rows in results["runs"].items():
        x = [r["cpu_minutes"] for r in rows]
        axes[0].plot(x, [r["raw"]["fd"] for r in rows], "o-", label=f"{run} raw")
        axes[0].plot(x, [r["finished"]["fd"] for r in rows], "s--", label=f"{run} finished")
        axes[1].plot(x, [100 * r["raw"]["cleanliness"]["isolated"]["median"] for r in rows], "o-",
                     label=f"{run} raw")
    axes[0].axhline(results["fd_real_halves"], color="grey", ls=":", label="real vs real")
    axes[1].axhline(100 * results["data_cleanliness"]["isolated"]["median"], color="grey", ls=":",
                    label="data")
    axes[0].set(xlabel="CPU minutes (autoencoder + DiT)", ylabel="FD (EfficientNet-Lite0)",
                title="FD against the data")
    axes[1].set(xlabel="CPU minutes (autoencoder + DiT)", ylabel="isolated pixels, median %",
                title="speckle in raw samples")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the sprites the runs were trained on")
    ap.add_argument("--label-column", default=None)
    ap.add_argument("--run", action="append", required=True, metavar="NAME=DIR",
                    help="a training run directory (repeatable)")
    ap.add_argument("--ae", action="append", default=[], metavar="NAME=AE_DIR",
                    help="decode run NAME with this autoencoder instead of its own (another "
                         "decoder of the same latent space, train-ae --freeze-encoder)")
    ap.add_argument("--num", type=int, default=192)
    ap.add_argument("--sampler", default=None, help="override the checkpoints' saved sampler")
    ap.add_argument("--steps", type=int, default=None, help="... and step count")
    ap.add_argument("--spacing", default=None, help="... and timestep spacing")
    ap.add_argument("--guidance", type=float, default=None, help="... and guidance scale")
    ap.add_argument("--autoguidance", type=float, default=None,
                    help="... and autoguidance weight (needs a guide: saved or --guide)")
    ap.add_argument("--guide", action="append", default=[], metavar="NAME=DIR",
                    help="guide run NAME's checkpoints with the EMA of DIR (an early checkpoint "
                         "of the run) instead of the guide they carry")
    ap.add_argument("--every", type=int, default=1, help="score every N-th checkpoint (+ last)")
    ap.add_argument("--threads", type=int, default=1, help="threads each run trained with")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.data.spec import DataSpec
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.evaluation.cleanliness import cleanliness_summary
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.metrics import class_agreement
    from ldm_sprites.evaluation.run import plan_labels, real_split_fd

    extractor = get_extractor("efficientnet", "cpu")
    results: dict = {"num": args.num, "features": extractor.name, "runs": {}}
    data = data_feats = None
    decoders = dict(spec.partition("=")[::2] for spec in args.ae)
    guides = dict(spec.partition("=")[::2] for spec in args.guide)
    overrides = {k: v for k, v in (("sampler", args.sampler), ("steps", args.steps),
                                   ("spacing", args.spacing), ("guidance", args.guidance),
                                   ("autoguidance", args.autoguidance)) if v is not None}
    results["sampling_overrides"] = overrides
    for spec in args.run:
        name, _, run = spec.partition("=")
        for ckpt in checkpoints(Path(run), args.every):
            pipe = DiffusionPipeline.from_pretrained(ckpt, ae_path=decoders.get(name))
            if name in guides:
                pipe.attach_guide(guides[name])
            if data is None:  # the real sprites as the first model saw them
                data = load_sprite_data(args.data, DataSpec.from_config(
                    pipe.config.get("data"), label_column=args.label_column))
                real = data.images.permute(0, 2, 3, 1).contiguous().numpy()
                data_feats = extractor(real)
                results["fd_real_halves"] = real_split_fd(data_feats, args.seed)["fd"]
                results["data_cleanliness"] = cleanliness_summary(real)
                if pipe.classes:
                    y = data.labels.numpy()
                    results["data_class_agreement"] = class_agreement(data_feats, y,
                                                                      data_feats, y)
            labels = plan_labels(pipe.classes, data, args.num, "data")
            seconds = train_seconds(ckpt) * args.threads + autoencoder_seconds(pipe) * args.threads
            row = {"checkpoint": ckpt.name, "step": int(ckpt.name.split("-")[-1]),
                   "cpu_minutes": seconds / 60, **score(pipe, labels, data_feats, extractor,
                                                        args.seed, data.labels.numpy(),
                                                        **overrides)}
            results["runs"].setdefault(name, []).append(row)
            print(f"{name} {ckpt.name}: {row['cpu_minutes']:.0f} CPU-min, FD raw "
                  f"{row['raw']['fd']:.1f} / finished {row['finished']['fd']:.1f}", flush=True)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.png:
        plot(results, args.png)


def markdown(results: dict) -> str:
    def pct(c, key):
        return f"{100 * c[key]['median']:.1f} %"

    real_agree = results.get("data_class_agreement")
    lines = [f"real vs real FD {results['fd_real_halves']:.1f}; data: isolated "
             f"{pct(results['data_cleanliness'], 'isolated')}, soft alpha "
             f"{pct(results['data_cleanliness'], 'soft_alpha')}"
             + ("" if real_agree is None else f", class agreement {100 * real_agree:.1f} %"), "",
             "| run | step | CPU min | FD raw | FD finished | isolated raw | soft alpha raw | "
             "visible colours raw | isolated finished | class agreement raw |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run, rows in results["runs"].items():
        for r in rows:
            c, f = r["raw"]["cleanliness"], r["finished"]["cleanliness"]
            agree = r["raw"].get("class_agreement")
            lines.append(f"| {run} | {r['step']} | {r['cpu_minutes']:.0f} | {r['raw']['fd']:.1f} | "
                         f"{r['finished']['fd']:.1f} | {pct(c, 'isolated')} | "
                         f"{pct(c, 'soft_alpha')} | {np.round(c['visible_colors']['median'], 1)} | "
                         f"{pct(f, 'isolated')} | "
                         f"{'-' if agree is None else f'{100 * agree:.1f} %'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
