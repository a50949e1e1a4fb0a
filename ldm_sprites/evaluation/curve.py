"""``ldmsprites eval --curve``: how sample quality grew along a training run, checkpoint by checkpoint.

Loss curves do not show what a user sees, so for every checkpoint of each run (every
``every``-th, plus the last) this samples ``num`` sprites with the model's own sampling defaults
(or the caller's overrides), in the data's class proportions (as ``eval``), and reports:

* CPU minutes: the training seconds the checkpoint saved (``train_state.pt``'s ``elapsed_s``)
  times the threads the run used (``threads``, 1 for the recommended one-run-per-core setup),
  plus, for latent runs, the autoencoder's own training time read the same way — the whole
  recipe's cost, not the DiT's alone;
* FD (EfficientNet-Lite0 features by default, as ``eval``) against the data, with the
  real-vs-real floor;
* cleanliness (``evaluation.cleanliness``: isolated pixels, soft alpha, visible colours; median
  per sprite) of the raw sampler output and of the finished sprites users get;
* class agreement (conditional models): the share of samples whose features lie nearest the
  real sprites of the class they were asked for, next to the real sprites' own share.

``quality_curve`` returns the numbers (JSON-ready), ``curve_markdown`` the table and
``plot_curve`` the PNG of FD and isolated pixels against CPU minutes, one line per run.
``benchmarks/bench_quality.py`` is this module behind the benchmarks' argparse interface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ldm_sprites.console import info, progress
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import CONFIG, ModelDir, list_checkpoints, load_model_dir


@dataclass(frozen=True)
class RunSpec:
    """One run to score: its name in tables, its directory (a training run or one checkpoint),
    and optionally another autoencoder to decode with and an autoguidance guide to attach."""
    name: str
    path: Path
    ae: str | None = None
    guide: str | None = None


def run_checkpoints(path: str | Path, every: int = 1) -> list[Path]:
    """Every ``every``-th checkpoint of a training run, plus its newest; a model directory (one
    checkpoint, a bundled model) alone is itself."""
    path = Path(path)
    if every < 1:
        raise UserError(f"--every {every} must be >= 1")
    found = list_checkpoints(path)
    if not found:
        if (path / CONFIG).is_file():
            return [path]
        what = "does not exist" if not path.exists() else \
            "is neither a training run (no checkpoints/step-* folders) nor a model directory"
        raise UserError(f"{path} {what}; name a training run's --out folder")
    picked = found[every - 1::every]
    return picked if picked and picked[-1] == found[-1] else picked + [found[-1]]


def checkpoint_step(ckpt: Path) -> int:
    """``step-00003000`` -> 3000; 0 for a model directory that is not a checkpoint."""
    tail = ckpt.name.rsplit("-", 1)[-1]
    return int(tail) if ckpt.name.startswith("step-") and tail.isdigit() else 0


def train_seconds(model_dir: str | Path) -> float:
    """Training seconds saved with a checkpoint (0 for a model directory without a train state,
    e.g. a bundled one). Read with ``weights_only=True``, as resuming reads it."""
    state = ModelDir(Path(model_dir), {}).train_state()
    return float(state["elapsed_s"]) if state is not None else 0.0


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
        md = load_model_dir(source, expect_kind="autoencoder")
        seconds += _ae_dir_seconds(md.path, md.config, depth + 1)
    return seconds


def score(pipe, labels, data_feats, extractor, seed: int, data_labels=None, *, finish=None,
          batch_size: int = 64, bootstrap: int = 50, **options) -> dict:
    """FD (with its bootstrap interval), cleanliness and, with ``data_labels`` (the real sprites'
    classes) and a conditional model, class agreement of ``labels``' samples — raw and finished
    (``finish``: ``FinishOptions``, None = the defaults). ``options``: sampling options over the
    model's saved defaults (sampler, steps, spacing, guidance, autoguidance)."""
    from ldm_sprites.evaluation.cleanliness import cleanliness_summary
    from ldm_sprites.evaluation.metrics import bootstrap_fd, class_agreement

    raw = pipe.to_rgba(pipe.sample(labels, seed=seed, batch_size=batch_size, **options))
    done = pipe.finish(raw, finish)
    out = {}
    for name, sprites in (("raw", raw), ("finished", done)):
        feats = extractor(sprites)
        fd = bootstrap_fd(feats, data_feats, resamples=bootstrap, seed=seed)
        out[name] = {"fd": fd["fd"], "fd_ci95": fd["ci95"],
                     "cleanliness": cleanliness_summary(sprites)}
        if data_labels is not None and pipe.classes:
            out[name]["class_agreement"] = class_agreement(feats, labels, data_feats, data_labels)
    return out


def quality_curve(runs: list[RunSpec], data_dir: str | Path, *, num: int = 192, every: int = 1,
                  threads: int = 1, seed: int = 0, label_column: str | None = None,
                  overrides: dict | None = None, features: str = "efficientnet",
                  balance: str = "data", bootstrap: int = 50, batch_size: int = 64,
                  finish=None, device: str | None = None, weights: str = "ema",
                  cache_dir: str | Path | None = None) -> dict:
    """Score the checkpoints of ``runs`` against the sprites in ``data_dir`` (read as the first
    model saw them). Returns ``{"num", "features", "sampling_overrides", "fd_real_halves",
    "data_cleanliness", ["data_class_agreement"], "runs": {name: [row per checkpoint]}}``; a row
    holds ``checkpoint``, ``step``, ``cpu_minutes`` and ``raw``/``finished`` scores (``score``)."""
    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.data.spec import DataSpec
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.evaluation.cleanliness import cleanliness_summary
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.metrics import class_agreement
    from ldm_sprites.evaluation.run import plan_labels, real_split_fd

    if threads < 1:
        raise UserError(f"--threads {threads} must be >= 1")
    plan = plan_checkpoints(runs, every)  # every path checked before anything slow is loaded
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    extractor = get_extractor(features, device or "cpu")
    results: dict = {"num": num, "features": extractor.name, "threads": threads,
                     "sampling_overrides": overrides, "runs": {}}
    data = data_feats = None
    bar = progress(plan, desc="checkpoints", unit="ckpt")
    for run, ckpt in bar:
        pipe = DiffusionPipeline.from_pretrained(ckpt, device=device, weights=weights,
                                                 ae_path=run.ae)
        if run.guide:
            pipe.attach_guide(run.guide)
        if data is None:  # the real sprites as the first model saw them
            data = load_sprite_data(data_dir, DataSpec.from_config(
                asdict(pipe.config.data), label_column=label_column), cache_dir=cache_dir)
            real = data.images.permute(0, 2, 3, 1).contiguous().numpy()
            data_feats = extractor(real)
            floor = real_split_fd(data_feats, seed)
            results["fd_real_halves"] = floor and floor["fd"]
            results["data_cleanliness"] = cleanliness_summary(real)
            if pipe.classes:
                y = data.labels.numpy()
                results["data_class_agreement"] = class_agreement(data_feats, y, data_feats, y)
        labels = plan_labels(pipe.classes, data, num, balance)
        seconds = (train_seconds(ckpt) + autoencoder_seconds(pipe)) * threads
        row = {"checkpoint": ckpt.name, "step": checkpoint_step(ckpt), "cpu_minutes": seconds / 60,
               **score(pipe, labels, data_feats, extractor, seed, data.labels.numpy(),
                       finish=finish, batch_size=batch_size, bootstrap=bootstrap, **overrides)}
        results["runs"].setdefault(run.name, []).append(row)
        bar.set_postfix_str(f"{run.name} step {row['step']}: FD {row['raw']['fd']:.1f}")
        info(f"{run.name} {ckpt.name}: {row['cpu_minutes']:.0f} CPU-min, FD raw "
             f"{row['raw']['fd']:.1f} / finished {row['finished']['fd']:.1f}")
    return results


def plan_checkpoints(runs: list[RunSpec], every: int) -> list[tuple[RunSpec, Path]]:
    """(run, checkpoint) for every checkpoint to score, each run's path checked up front."""
    if not runs:
        raise UserError("name at least one run to score")
    names = [r.name for r in runs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"run {', '.join(twice)} is named twice; give each run once")
    return [(run, ckpt) for run in runs for ckpt in run_checkpoints(run.path, every)]


def _pct(summary: dict, key: str) -> str:
    return f"{100 * summary[key]['median']:.1f} %"


def _num(value, fmt: str = ".1f") -> str:
    return "n/a" if value is None else format(value, fmt)


def curve_markdown(results: dict) -> str:
    """The data's line (floor, cleanliness, class agreement) and a table row per checkpoint."""
    data = results["data_cleanliness"]
    real_agree = results.get("data_class_agreement")
    lines = [f"real vs real FD {_num(results.get('fd_real_halves'))}; data: isolated "
             f"{_pct(data, 'isolated')}, soft alpha {_pct(data, 'soft_alpha')}"
             + ("" if real_agree is None else f", class agreement {100 * real_agree:.1f} %"), "",
             "| run | step | CPU min | FD raw | FD finished | isolated raw | soft alpha raw | "
             "visible colours raw | isolated finished | class agreement raw |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run, rows in results["runs"].items():
        for r in rows:
            c, f = r["raw"]["cleanliness"], r["finished"]["cleanliness"]
            agree = r["raw"].get("class_agreement")
            lines.append(f"| {run} | {r['step']} | {r['cpu_minutes']:.0f} | {r['raw']['fd']:.1f} | "
                         f"{r['finished']['fd']:.1f} | {_pct(c, 'isolated')} | "
                         f"{_pct(c, 'soft_alpha')} | {np.round(c['visible_colors']['median'], 1)} | "
                         f"{_pct(f, 'isolated')} | "
                         f"{'-' if agree is None else f'{100 * agree:.1f} %'} |")
    return "\n".join(lines)


def plot_curve(results: dict, path: str | Path) -> Path:
    """FD (raw and finished) and the raw samples' isolated pixels against CPU minutes, one line
    per run, the data's floor and speckle as dotted lines; written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ldm_sprites.fsutil import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for run, rows in results["runs"].items():
        x = [r["cpu_minutes"] for r in rows]
        axes[0].plot(x, [r["raw"]["fd"] for r in rows], "o-", label=f"{run} raw")
        axes[0].plot(x, [r["finished"]["fd"] for r in rows], "s--", label=f"{run} finished")
        axes[1].plot(x, [100 * r["raw"]["cleanliness"]["isolated"]["median"] for r in rows], "o-",
                     label=f"{run} raw")
    if results.get("fd_real_halves") is not None:
        axes[0].axhline(results["fd_real_halves"], color="grey", ls=":", label="real vs real")
    axes[1].axhline(100 * results["data_cleanliness"]["isolated"]["median"], color="grey", ls=":",
                    label="data")
    axes[0].set(xlabel="CPU minutes (autoencoder + DiT)", ylabel=f"FD ({results['features']})",
                title="FD against the data")
    axes[1].set(xlabel="CPU minutes (autoencoder + DiT)", ylabel="isolated pixels, median %",
                title="speckle in raw samples")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
