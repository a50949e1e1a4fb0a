"""How well a denoiser fits the sprites: the error of x̂₀ by noise level, per checkpoint.

    python -m benchmarks.bench_denoiser --data SPRITES --run NAME=DIR [--run ...] \
        [--ae NAME=AE_DIR] [--num 96] [--t 100,300,500,700] [--every 1] [--json out.json]

FD and cleanliness score what a sampler makes of a model; this scores the model's one job
directly. ``--num`` real sprites (evenly spaced through the data set, as the first model saw them)
are encoded, noised to each timestep t with fixed noise, and denoised in one unconditional,
unguided model call; the table gives the RMSE of x̂₀ against the clean input in model space
(latents are scaled to unit standard deviation by the autoencoder's ``scale_factor``; pixels lie
in [-1, 1]). Run on the training sprites it tells underfitting from a model that could draw them
(docs/benchmarks.md, "Why stage two stays at blobs"): a model that memorises its sprites has far
lower error at mid noise than one that draws blobs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks.bench_quality import checkpoints

DEFAULT_T = (100, 300, 500, 700)


def evenly_spaced(n: int, num: int) -> list[int]:
    """``num`` indices spread over ``range(n)`` (every ``n // num``-th, from 0)."""
    return list(range(0, n, max(1, n // num)))[:num]


@torch.no_grad()
def x0_errors(pipe, x0: torch.Tensor, timesteps, seed: int = 0) -> dict[int, float]:
    """RMSE of the model's x̂₀ on ``x0`` (model space) noised to each t; the same noise for every
    model given the same seed, so checkpoints compare on identical inputs."""
    from ldm_sprites.diffusion.editing import noise_to

    g = torch.Generator().manual_seed(seed)
    labels = torch.full((len(x0),), pipe.null_label)
    denoise = pipe.denoiser(labels, pipe.sampling_options())
    out = {}
    for t in timesteps:
        x_t = noise_to(pipe.schedule, x0, int(t), g)
        out[int(t)] = float((denoise(x_t, int(t)) - x0).pow(2).mean().sqrt())
    return out


def markdown(results: dict) -> str:
    ts = results["timesteps"]
    lines = ["| run | step | " + " | ".join(f"t = {t}" for t in ts) + " |",
             "|---|---|" + "---|" * len(ts)]
    for run, rows in results["runs"].items():
        for r in rows:
            lines.append(f"| {run} | {r['step']} | "
                         + " | ".join(f"{r['rmse'][str(t)]:.3f}" for t in ts) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="the sprites to denoise (usually the training set)")
    ap.add_argument("--run", action="append", required=True, metavar="NAME=DIR",
                    help="a training run (its checkpoints) or one checkpoint folder")
    ap.add_argument("--ae", action="append", default=[], metavar="NAME=AE_DIR",
                    help="autoencoder for a run instead of the one it recorded")
    ap.add_argument("--num", type=int, default=96)
    ap.add_argument("--t", default=",".join(map(str, DEFAULT_T)), help="timesteps, comma-separated")
    ap.add_argument("--every", type=int, default=1, help="every N-th checkpoint (+ the last)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.data.spec import DataSpec
    from ldm_sprites.data.tensors import rgba_uint8_to_model
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.modeldir import list_checkpoints

    timesteps = [int(t) for t in args.t.split(",")]
    decoders = dict(spec.partition("=")[::2] for spec in args.ae)
    results: dict = {"num": args.num, "timesteps": timesteps, "runs": {}}
    pixels = None
    for spec in args.run:
        name, _, run = spec.partition("=")
        run = Path(run)
        ckpts = checkpoints(run, args.every) if list_checkpoints(run) else [run]
        for ckpt in ckpts:
            pipe = DiffusionPipeline.from_pretrained(ckpt, ae_path=decoders.get(name))
            if pixels is None:
                spec_ = DataSpec.from_config(pipe.config.get("data"))
                data = load_sprite_data(args.data, spec_)
                idx = evenly_spaced(len(data.images), args.num)
                pixels = rgba_uint8_to_model(data.images[idx], spec_.channels)
                results["num"] = len(idx)
            x0 = pipe.encode(pixels).cpu()
            step = int(ckpt.name.split("-")[-1]) if ckpt.name.startswith("step-") else 0
            row = {"checkpoint": str(ckpt), "step": step,
                   "rmse": {str(t): v for t, v in x0_errors(pipe, x0, timesteps, args.seed).items()}}
            results["runs"].setdefault(name, []).append(row)
            print(f"{name} {ckpt.name}: " + ", ".join(f"t={t} {v:.3f}"
                                                     for t, v in row["rmse"].items()), flush=True)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
