"""Does the forward process really end in N(0, 1)? Histograms of x_t values + KS statistics.

For each schedule and a few t, every value of every channel of every sprite (pixels in model
space, or latents) is pushed through q(x_t | x_0) and compared with the standard normal. The
Kolmogorov–Smirnov statistic D = sup |F_empirical − Φ| is the largest vertical gap between the
two CDFs: 0 means identical, and at the last step it should be close to 0 for any sane schedule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ldm_sprites.diffusion.schedule import NoiseSchedule

MAX_VALUES = 200_000  # KS and histograms on a fixed random subset: fast, and D's noise ~ 0.002


def default_timesteps(T: int) -> list[int]:
    return [0, T // 10, T // 4, T // 2, (3 * T) // 4, T - 1]


def noise_stats(x0: torch.Tensor, schedules: list[str], timesteps: list[int], T: int = 1000,
                seed: int = 0) -> dict:
    """{schedule: {t: {alpha_bar, ks, ks_pvalue, mean, std, values}}}; ``values`` (a float32
    array, the subset the statistics used) is for plotting and is not meant for JSON."""
    from scipy import stats

    gen = torch.Generator().manual_seed(int(seed))
    flat = x0.reshape(-1).float()
    if flat.numel() > MAX_VALUES:  # subsample values, not sprites: keeps every sprite represented
        flat = flat[torch.randperm(flat.numel(), generator=gen)[:MAX_VALUES]]
    noise = torch.randn(flat.shape, generator=gen)
    out: dict = {}
    for kind in schedules:
        sched = NoiseSchedule(kind, T)
        out[kind] = {}
        for t in timesteps:
            if not 0 <= t < T:
                from ldm_sprites.errors import UserError

                raise UserError(f"timestep {t} is outside 0..{T - 1}")
            ab = sched.alpha_bar(t)
            v = (np.sqrt(ab) * flat + np.sqrt(1 - ab) * noise).numpy()
            ks = stats.kstest(v, "norm")
            out[kind][int(t)] = {"alpha_bar": ab, "ks": float(ks.statistic),
                                 "ks_pvalue": float(ks.pvalue), "mean": float(v.mean()),
                                 "std": float(v.std()), "values": v}
    return out


def stats_json(stats: dict, source: str) -> dict:
    """The JSON-safe part of ``noise_stats``; t keys become strings."""
    return {"source": source, "n_values": int(len(next(iter(next(iter(stats.values())).values()))
                                                  ["values"])),
            "schedules": {k: {str(t): {m: round(v, 6) for m, v in d.items() if m != "values"}
                              for t, d in per_t.items()} for k, per_t in stats.items()}}


def plot_noise_stats(stats: dict, path: str | Path, title: str) -> Path:
    """Rows: schedules; columns: t. Each panel: histogram (density) + N(0,1) curve + KS D."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ldm_sprites.fsutil import atomic_path

    kinds = list(stats)
    ts = list(stats[kinds[0]])
    fig, axes = plt.subplots(len(kinds), len(ts), figsize=(2.6 * len(ts), 2.4 * len(kinds)),
                             squeeze=False, sharex=True)
    grid = np.linspace(-4, 4, 201)
    pdf = np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi)
    for r, kind in enumerate(kinds):
        for c, t in enumerate(ts):
            d = stats[kind][t]
            ax = axes[r][c]
            ax.hist(np.clip(d["values"], -4, 4), bins=80, range=(-4, 4), density=True,
                    color="#6a8fd0", alpha=0.8, linewidth=0)
            ax.plot(grid, pdf, color="#c03030", linewidth=1.2, label="N(0,1)")
            ax.set_title(f"{kind}  t={t}\nᾱ={d['alpha_bar']:.3g}  KS D={d['ks']:.3f}", fontsize=8)
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
        axes[r][0].set_ylabel("density", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("x_t value", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="upper left", frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
