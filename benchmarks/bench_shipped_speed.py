"""Per-sprite sampling time of the shipped model with its own defaults, beside the sampler
defaults it had when issue 12 was filed (DPM-Solver++(2M), 25 uniform steps, classifier-free
guidance 3 in σ ∈ (0.3, 5], no autoguidance guide) — the issue's "per-sprite speed unchanged
(±10 %) or better" target, measured side by side on the same host.

    python -m benchmarks.bench_shipped_speed [--model DIR] [--num 64] [--repeats 3] [--threads 1]

Raw sampler output (no finishing), alternating repeats so a busy host slows both alike; prints
the range of seconds per call and milliseconds per sprite.
"""

from __future__ import annotations

import argparse
import time

import torch

FILING_TIME = dict(sampler="dpmpp", steps=25, spacing="uniform", autoguidance=1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model directory (default: the bundled model)")
    ap.add_argument("--num", type=int, default=64, help="sprites per call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ldm_sprites import api

    pipe = api.load_pipeline(args.model)
    # autoguidance 1 (off) is accepted for models without a guide too
    cases = {"the model's defaults": {}, "the sampler at issue 12's filing": FILING_TIME}
    api.generate(pipe, num=8, finish="none")   # warm-up: first-call allocations
    times: dict[str, list[float]] = {k: [] for k in cases}
    for rep in range(args.repeats):
        for name, options in cases.items():
            t = time.perf_counter()
            api.generate(pipe, num=args.num, seed=rep, finish="none", **options)
            times[name].append(time.perf_counter() - t)
    defaults = pipe.sampling_options()
    print(f"defaults: {defaults.sampler} {defaults.steps} steps ({defaults.spacing}), guidance "
          f"{defaults.guidance}, autoguidance {defaults.autoguidance if pipe.guide else 'none'}")
    for name, v in times.items():
        lo, hi = min(v), max(v)
        print(f"{name}: {args.num} sprites {lo:.2f}-{hi:.2f} s, "
              f"{1000 * lo / args.num:.0f}-{1000 * hi / args.num:.0f} ms per sprite")


if __name__ == "__main__":
    main()
