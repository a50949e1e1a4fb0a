"""How well a denoiser fits the sprites: the error of x̂₀ by noise level, per checkpoint.

    python -m benchmarks.bench_denoiser --data SPRITES --run NAME=DIR [--run ...] \
        [--ae NAME=AE_DIR] [--num 96] [--t 100,300,500,700] [--every 1] [--json out.json]

The benchmarks' interface to ``ldm_sprites.evaluation.denoiser`` (what ``ldmsprites eval
--denoiser`` runs; the measurement is described there), with a name per run and, per run,
another autoencoder (``--ae NAME=AE_DIR``). A run may be one checkpoint folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.bench_quality import named_runs
from ldm_sprites.evaluation.denoiser import (DEFAULT_T, denoiser_errors, denoiser_markdown,
                                             evenly_spaced, parse_timesteps, x0_errors)

__all__ = ["DEFAULT_T", "evenly_spaced", "main", "x0_errors"]


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

    results = denoiser_errors(named_runs(args.run, args.ae, []), args.data, num=args.num,
                              timesteps=parse_timesteps(args.t), every=args.every,
                              seed=args.seed)
    print(denoiser_markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
