"""Quality per CPU minute: FD and cleanliness of samples from the checkpoints along training runs.

    python -m benchmarks.bench_quality --data SPRITES --label-column type1 \
        --run latent=runs/dit --run pixel=runs/px [--num 192] [--every 2] \
        [--png quality.png] [--json quality.json]

The benchmarks' interface to ``ldm_sprites.evaluation.curve`` (what ``ldmsprites eval --curve``
runs; the numbers, the table and the plot are described there). It adds what comparing several
runs needs: a name per run (``--run NAME=DIR``), and per run another autoencoder (``--ae
NAME=AE_DIR``, another decoder of the same latent space, train-ae --freeze-encoder) or an
autoguidance guide (``--guide NAME=DIR``, an early checkpoint of the same run, as ``bundle
--guide``) — autoguidance before bundling.

Output: a markdown table on stdout, the numbers as JSON, and a PNG with FD and isolated pixels
against CPU minutes, one line per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ldm_sprites.evaluation.curve import (RunSpec, curve_markdown, plot_curve, quality_curve,
                                          train_seconds)

__all__ = ["main", "named_runs", "train_seconds"]


def named_runs(runs: list[str], aes: list[str], guides: list[str]) -> list[RunSpec]:
    """``--run NAME=DIR`` with the ``--ae NAME=AE_DIR`` / ``--guide NAME=DIR`` that name it."""
    decoders = dict(spec.partition("=")[::2] for spec in aes)
    guide_of = dict(spec.partition("=")[::2] for spec in guides)
    out = []
    for spec in runs:
        name, _, run = spec.partition("=")
        out.append(RunSpec(name, Path(run), decoders.get(name), guide_of.get(name)))
    return out


def main(argv=None) -> dict:
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

    overrides = {"sampler": args.sampler, "steps": args.steps, "spacing": args.spacing,
                 "guidance": args.guidance, "autoguidance": args.autoguidance}
    results = quality_curve(named_runs(args.run, args.ae, args.guide), args.data, num=args.num,
                            every=args.every, threads=args.threads, seed=args.seed,
                            label_column=args.label_column, overrides=overrides)
    print(curve_markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.png:
        plot_curve(results, args.png)
    return results


if __name__ == "__main__":
    main()
