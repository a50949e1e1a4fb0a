"""``ldmsprites eval --denoiser``: how well a denoiser fits the sprites — x̂₀'s error by noise level.

FD and cleanliness score what a sampler makes of a model; this scores the model's one job
directly. ``num`` real sprites (evenly spaced through the data set, as the first model saw them)
are encoded, noised to each timestep t with fixed noise, and denoised in one unconditional,
unguided model call; the result is the RMSE of x̂₀ against the clean input in model space
(latents are scaled to unit standard deviation by the autoencoder's ``scale_factor``; pixels lie
in [-1, 1]). Run on the training sprites it tells underfitting from a model that could draw them
(docs/benchmarks.md, "Why stage two stays at blobs"): a model that memorises its sprites has far
lower error at mid noise than one that draws blobs.
``benchmarks/bench_denoiser.py`` is this module behind the benchmarks' argparse interface.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ldm_sprites.console import info, progress
from ldm_sprites.errors import UserError
from ldm_sprites.evaluation.curve import RunSpec, checkpoint_step, plan_checkpoints

DEFAULT_T = (100, 300, 500, 700)


def evenly_spaced(n: int, num: int) -> list[int]:
    """``num`` indices spread over ``range(n)`` (every ``n // num``-th, from 0)."""
    return list(range(0, n, max(1, n // num)))[:num]


def parse_timesteps(text: str) -> list[int]:
    """``"100,300"`` -> [100, 300]; a UserError for anything else."""
    try:
        ts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        ts = []
    if not ts:
        raise UserError(f"--t {text!r}: give timesteps as whole numbers, comma-separated "
                        "(e.g. 100,300,500,700)")
    return ts


@torch.no_grad()
def x0_errors(pipe, x0: torch.Tensor, timesteps, seed: int = 0) -> dict[int, float]:
    """RMSE of the model's x̂₀ on ``x0`` (model space) noised to each t; the same noise for every
    model given the same seed, so checkpoints compare on identical inputs."""
    from ldm_sprites.diffusion.editing import noise_to

    bad = [t for t in timesteps if not 0 <= int(t) < pipe.schedule.T]
    if bad:
        raise UserError(f"--t {', '.join(map(str, bad))}: timesteps lie in 0..{pipe.schedule.T - 1}"
                        " for this model")
    g = torch.Generator().manual_seed(seed)
    labels = torch.full((len(x0),), pipe.null_label)
    denoise = pipe.denoiser(labels, pipe.sampling_options())
    out = {}
    for t in timesteps:
        x_t = noise_to(pipe.schedule, x0, int(t), g)
        out[int(t)] = float((denoise(x_t, int(t)) - x0).pow(2).mean().sqrt())
    return out


def denoiser_errors(runs: list[RunSpec], data_dir: str | Path, *, num: int = 96,
                    timesteps=DEFAULT_T, every: int = 1, seed: int = 0,
                    device: str | None = None, weights: str = "ema",
                    cache_dir: str | Path | None = None) -> dict:
    """x̂₀ error per timestep for the checkpoints of ``runs`` (every ``every``-th plus the last;
    a model directory alone is one row). Returns ``{"num", "timesteps", "runs": {name: [{"checkpoint",
    "step", "rmse": {"t": value}}]}}`` (``num``: the sprites actually denoised)."""
    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.data.tensors import rgba_uint8_to_model
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    timesteps = [int(t) for t in timesteps]
    plan = plan_checkpoints(runs, every)
    results: dict = {"num": num, "timesteps": timesteps, "runs": {}}
    pixels = None
    bar = progress(plan, desc="checkpoints", unit="ckpt")
    for run, ckpt in bar:
        pipe = DiffusionPipeline.from_pretrained(ckpt, device=device, weights=weights,
                                                 ae_path=run.ae)
        if pixels is None:
            spec = pipe.data_spec
            data = load_sprite_data(data_dir, spec, cache_dir=cache_dir)
            idx = evenly_spaced(len(data.images), num)
            pixels = rgba_uint8_to_model(data.images[idx], spec.channels)
            results["num"] = len(idx)
        x0 = pipe.encode(pixels)
        row = {"checkpoint": str(ckpt), "step": checkpoint_step(ckpt),
               "rmse": {str(t): v for t, v in x0_errors(pipe, x0, timesteps, seed).items()}}
        results["runs"].setdefault(run.name, []).append(row)
        bar.set_postfix_str(f"{run.name} step {row['step']}")
        info(f"{run.name} {ckpt.name}: " + ", ".join(f"t={t} {v:.3f}"
                                                    for t, v in row["rmse"].items()))
    return results


def denoiser_markdown(results: dict) -> str:
    """A table row per checkpoint, a column per timestep."""
    ts = results["timesteps"]
    lines = ["| run | step | " + " | ".join(f"t = {t}" for t in ts) + " |",
             "|---|---|" + "---|" * len(ts)]
    for run, rows in results["runs"].items():
        for r in rows:
            lines.append(f"| {run} | {r['step']} | "
                         + " | ".join(f"{r['rmse'][str(t)]:.3f}" for t in ts) + " |")
    return "\n".join(lines)
