"""A training run at a glance: the loss curve from ``log.jsonl`` and the timesteps × checkpoints
table (rows: saved checkpoints, columns: what the sampler predicts at chosen t).

The table answers "is training still improving, and at which noise levels?": early checkpoints
produce blurry x̂_0 even late in sampling, later ones commit to a shape at higher t.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ldm_sprites.errors import UserError
from ldm_sprites.visual import layout

BUCKET_SUM, BUCKET_N = "lossbin_sum_", "lossbin_n_"


def read_log(run_dir: str | Path) -> list[dict]:
    from ldm_sprites.training.trainer import LOG_FILE

    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        raise UserError(f"{path} not found; point report at a training run directory "
                        "(the --out of train-diffusion)")
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed run
        if isinstance(rec, dict) and "step" in rec and "loss" in rec:
            records.append(rec)
    if not records:
        raise UserError(f"{path} holds no loss records yet; train for at least log_every steps")
    return records


def smoothing_window(n: int) -> int:
    """Odd window of about 5 % of the log, at least 3 points."""
    return max(3, (n // 20) | 1)


def smooth(values: np.ndarray, window: int | None = None) -> np.ndarray:
    """Centred moving average (no lag, unlike an EMA); NaNs are skipped, edges use what exists."""
    v = np.asarray(values, dtype=float)
    w = min(window or smoothing_window(len(v)), len(v) - (1 - len(v) % 2))  # odd, <= len
    if w <= 1:
        return v.copy()
    ok = np.isfinite(v)
    kernel = np.ones(w)
    sums = np.convolve(np.where(ok, v, 0.0), kernel, mode="same")
    counts = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def bucket_losses(records: list[dict]) -> np.ndarray | None:
    """(n_records, n_buckets) mean loss per timestep bucket; NaN where a bucket got no samples.

    The trainer logs per-bucket sums and counts (averaged over the log interval, which cancels in
    the ratio) because a per-batch mean would be NaN for buckets a batch did not draw.
    """
    n = 0
    while f"{BUCKET_SUM}{n}" in records[-1]:
        n += 1
    if n == 0:
        return None
    out = np.full((len(records), n), np.nan)
    for i, rec in enumerate(records):
        for k in range(n):
            s, c = rec.get(f"{BUCKET_SUM}{k}"), rec.get(f"{BUCKET_N}{k}")
            if s is not None and c:
                out[i, k] = s / c
    return out


def bucket_names(n: int, T: int) -> list[str]:
    return [f"t {k * T // n}-{(k + 1) * T // n - 1}" for k in range(n)]


def plot_loss(records: list[dict], path: str | Path, buckets: bool, T: int = 1000,
              title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ldm_sprites.fsutil import atomic_path

    steps = np.array([r["step"] for r in records], dtype=float)
    loss = np.array([r["loss"] for r in records], dtype=float)
    per_t = bucket_losses(records) if buckets else None
    if buckets and per_t is None:
        raise UserError("this run's log has no per-timestep losses (only diffusion training "
                        "logs them); run report without --buckets")
    fig, axes = plt.subplots(1 + (per_t is not None), 1, figsize=(7, 3.2 + 3 * (per_t is not None)),
                             squeeze=False)
    ax = axes[0][0]
    ax.plot(steps, loss, color="#9bb5e0", linewidth=0.8, label="loss (per log interval)")
    ax.plot(steps, smooth(loss), color="#1f4e9c", linewidth=1.6,
            label=f"smoothed (centred mean of {smoothing_window(len(loss))} points)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, frameon=False)
    ratio = _epochs_per_step(records)
    if ratio:
        top = ax.secondary_xaxis("top", functions=(lambda s: s * ratio, lambda e: e / ratio))
        top.set_xlabel("epoch", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    if per_t is not None:
        bx = axes[1][0]
        cmap = plt.get_cmap("viridis")
        names = bucket_names(per_t.shape[1], T)
        for k in range(per_t.shape[1]):
            bx.plot(steps, smooth(per_t[:, k]), color=cmap(k / max(1, per_t.shape[1] - 1)),
                    linewidth=1.2, label=names[k])
        bx.set_yscale("log")
        bx.set_xlabel("step")
        bx.set_ylabel("smoothed loss per t bucket")
        bx.grid(alpha=0.3, which="both")
        bx.legend(fontsize=6, ncol=2, frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _epochs_per_step(records: list[dict]) -> float | None:
    last = records[-1]
    if last.get("epoch") and last["step"]:
        return float(last["epoch"]) / float(last["step"])
    return None


def loss_summary(records: list[dict], T: int = 1000) -> dict:
    loss = np.array([r["loss"] for r in records], dtype=float)
    sm = smooth(loss)
    out = {"steps": int(records[-1]["step"]), "epochs": records[-1].get("epoch"),
           "final_loss_smoothed": round(float(sm[-1]), 6),
           "min_loss_smoothed": round(float(np.nanmin(sm)), 6)}
    per_t = bucket_losses(records)
    if per_t is not None:
        tail = per_t[-max(1, len(per_t) // 10):]  # last 10% of the run: what the model is now
        cols = [tail[:, k][np.isfinite(tail[:, k])] for k in range(tail.shape[1])]
        out["loss_by_t_bucket"] = {n: (round(float(c.mean()), 6) if len(c) else None)
                                   for n, c in zip(bucket_names(per_t.shape[1], T), cols)}
    return out


def pick_steps(timesteps: list[int], wanted: list[int], show: str) -> list[tuple[int, int]]:
    """For each wanted t, the sampler step whose snapshot is nearest: (step index, its t).

    x̂_0 of step i is predicted at ``timesteps[i]``; x_t after step i sits at the next timestep
    (-1 = clean after the last step).
    """
    at = list(timesteps) if show == "x0" else list(timesteps[1:]) + [-1]
    return [min(((i, t) for i, t in enumerate(at)), key=lambda p: (abs(p[1] - w), p[0]))
            for w in wanted]


def timestep_table(checkpoints: list[Path], t_values: list[int], class_names: list[str] | None,
                   *, sampler: str | None, steps: int | None, guidance: float | None, seed: int,
                   show: str, device: str | None, weights: str = "ema"):
    """Sample the same seed/classes with every checkpoint; return (table image, info dict)."""
    from ldm_sprites.console import progress
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.modeldir import load_model_dir

    rows, labels, info = [], [], {}
    for ck in progress(checkpoints, desc="checkpoints", unit="ckpt", leave=False):
        pipe = DiffusionPipeline.from_pretrained(ck, device=device, weights=weights)
        opts = pipe.sampling_options(sampler=sampler, steps=steps, guidance=guidance)
        smp, n_steps = opts.sampler, opts.steps
        ids = pipe.class_ids(class_names) if class_names else list(range(min(8, len(pipe.classes))))
        ids = ids or [0]
        ts = opts.timesteps(pipe.schedule)
        picks = pick_steps(ts, t_values, show)
        wanted = {i for i, _ in picks}
        snaps: dict[int, np.ndarray] = {}

        def cb(i, x_t, x0, _pipe=pipe):
            if i in wanted:
                snaps[i] = _pipe.to_rgba(_pipe.decode(x0 if show == "x0" else x_t).cpu())

        pipe.sample(ids, seed=seed, batch_size=len(ids), callback=cb, options=opts)
        scale = layout.display_scale(snaps[picks[0][0]].shape[1], 48)
        nrow = max(1, math.ceil(math.sqrt(len(ids))))
        rows.append([layout.panel(snaps[i], nrow=nrow, scale=scale) for i, _ in picks])
        step = load_model_dir(ck).config.get("step")
        labels.append(f"step {step}" if step is not None else Path(ck).name)
        info = {"sampler": smp, "steps": n_steps, "seed": seed, "show": show,
                "t": [t for _, t in picks],
                "classes": [pipe.classes[i] for i in ids] if pipe.classes else []}
    heads = [("clean" if t < 0 else f"t={t}") for t in info["t"]]
    what = "predicted x0" if show == "x0" else "x_t"
    title = f"{what} during sampling ({info['sampler']}, {info['steps']} steps, seed {seed})"
    return layout.table(rows, labels, heads, title=title), info
