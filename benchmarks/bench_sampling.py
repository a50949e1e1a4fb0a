"""Faster sampling, lever by lever, against the DDPM-1000 pixel baseline, with a quality check.

    python -m benchmarks.bench_sampling [--num 96] [--quick] [--skip-speed | --skip-quality]
        [--json sampling.json]

Speed (ms per sprite, batch 64, AE decode and RGBA conversion included) of the default latent
config (configs/ae-kl.yaml + configs/dit-latent.yaml, random weights as in ``python -m
benchmarks``: speed does not depend on them) for each lever, and the DDPM-1000 pixel baseline
timed in the same run, so every ratio is side by side:

* solver and steps: the former default (DPM-Solver++(2M), 25 uniform steps) against
  DPM-Solver++(3M), UniPC and DPM-Solver++(2M) at 10-12 steps with logSNR-uniform spacing
  (guidance stays on in σ ∈ (0.3, 5], the config's default interval);
* dynamic int8 quantisation of the DiT's Linear layers (``torch.ao.quantization.quantize_dynamic``);
* ONNX Runtime for the denoiser and the decoder (``diffusion/onnx_export.py``; skipped without the
  ``.[onnx]`` extra);
* ``torch.compile`` (inductor) of the DiT for inference: the compile time (first batch) is
  reported apart from the steady-state ms, with the max |Δ| to the eager samples of the same
  noise (``--skip-compile`` leaves it out: it needs a C++ compiler and a minute or more);
* 1 vs 2 threads, and batch 16 vs 64.

Quality, on the bundled model (trained; the speed config has random weights): ``--num`` sprites
per setting spread over its classes, raw sampler output, scored as ``ldmsprites eval`` does — FD
in EfficientNet-Lite0 features against the demo data (unseen seed) with a bootstrap interval — plus
the cleanliness medians (isolated pixels, soft alpha, visible colours) and the mean |Δ| of the
model-space pixels to the converged ODE solution of the same noise (DPM-Solver++(3M), 100 logSNR
steps). The former default at two seeds gives the seed-to-seed noise every other row is read
against.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# The baseline the levers are read against: the default until stop 21 (the configs now sample
# with UniPC, 12 log-SNR steps: CANDIDATES[1], the row marked "default").
DEFAULT = dict(sampler="dpmpp", steps=25, spacing="uniform")
CANDIDATES = [dict(sampler="unipc", steps=10, spacing="logsnr"),
              dict(sampler="unipc", steps=12, spacing="logsnr"),
              dict(sampler="dpmpp3m", steps=12, spacing="logsnr"),
              dict(sampler="dpmpp", steps=12, spacing="logsnr"),
              dict(sampler="unipc", steps=12, spacing="karras")]


def label(o: dict) -> str:
    names = {"dpmpp": "DPM-Solver++(2M)", "dpmpp3m": "DPM-Solver++(3M)", "unipc": "UniPC"}
    return f"{names[o['sampler']]}, {o['steps']} {o['spacing']}"


def quantized(pipe):
    """A copy of ``pipe`` whose transformer blocks' Linear layers run as dynamic int8 (weights
    int8, activations quantised per batch); the embedders stay fp32 (they read weight dtypes)."""
    import copy

    q = copy.copy(pipe)
    q.model = copy.deepcopy(pipe.model)
    q.model.blocks = torch.ao.quantization.quantize_dynamic(q.model.blocks, {torch.nn.Linear},
                                                            dtype=torch.qint8)
    return q


def onnx_pipe(pipe, tmp: Path):
    """``pipe`` exported to ONNX and run through ONNX Runtime (None without the extra)."""
    import copy

    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    from ldm_sprites.diffusion.onnx_export import export_onnx, use_onnx_runtime

    export_onnx(pipe, tmp / "onnx")
    return use_onnx_runtime(copy.copy(pipe), tmp / "onnx")


def compiled(pipe):
    """A copy of ``pipe`` that samples through ``torch.compile`` (``DiffusionPipeline.compile``)."""
    import copy

    return copy.copy(pipe).compile()


def compile_row(pipe, opts: dict, n: int, rep: int) -> dict:
    """Compile cost, steady-state speed and drift of ``compiled(pipe)`` against eager ``pipe``."""
    comp = compiled(pipe)
    labels = [i % max(1, len(pipe.classes)) for i in range(n)]
    t0 = time.perf_counter()
    x_comp = comp.sample(labels, seed=0, batch_size=64, **opts)   # compiles every shape it meets
    first = time.perf_counter() - t0
    x_eager = pipe.sample(labels, seed=0, batch_size=64, **opts)
    drift = float((x_comp - x_eager).abs().max())
    print(f"torch.compile: first batch {first:.1f} s (compiling), max |Δ| to eager {drift:.2g}",
          flush=True)
    return {"lever": label(opts) + ", torch.compile DiT", "ms": ms_per_sprite(comp, opts, n, 64, rep),
            "compile s (first batch)": first, "max |Δ| to eager": drift}


def ms_per_sprite(pipe, opts: dict, n: int, batch: int, repeat: int) -> float:
    from benchmarks.common import timed

    labels = [i % max(1, len(pipe.classes)) for i in range(n)]
    secs = timed(lambda: pipe.to_rgba(pipe.sample(labels, seed=0, batch_size=batch, **opts)),
                 repeat=repeat, warmup=1)
    return secs / n * 1000


def speed(args) -> list[dict]:
    from benchmarks.run import ddpm_per_sprite, latent_default_pipeline

    threads = torch.get_num_threads()
    rows = []
    ddpm = ddpm_per_sprite(3 if args.quick else 8) * 1000
    rows.append({"lever": "DDPM-1000 pixel baseline (64×64, DiT w288 d16)", "ms": ddpm})
    n, rep = (16, 1) if args.quick else (64, 2)
    with tempfile.TemporaryDirectory() as tmp:
        pipe, _ = latent_default_pipeline(Path(tmp))
        best = CANDIDATES[1]
        for o in [DEFAULT] + CANDIDATES:
            rows.append({"lever": label(o) + (" (former default)" if o is DEFAULT else
                                              " (default)" if o is best else ""),
                         "ms": ms_per_sprite(pipe, o, n, 64, rep)})
        rows.append({"lever": label(best) + ", int8 dynamic Linear",
                     "ms": ms_per_sprite(quantized(pipe), best, n, 64, rep)})
        ort = onnx_pipe(pipe, Path(tmp))
        if ort is not None:
            rows.append({"lever": label(best) + ", ONNX Runtime denoiser + decoder",
                         "ms": ms_per_sprite(ort, best, n, 64, rep)})
        if not args.skip_compile:
            rows.append(compile_row(pipe, best, n, rep))
        rows.append({"lever": label(best) + ", batch 16",
                     "ms": ms_per_sprite(pipe, best, n, 16, rep)})
        if threads > 1:
            torch.set_num_threads(1)
            rows.append({"lever": label(best) + ", 1 thread",
                         "ms": ms_per_sprite(pipe, best, n, 64, rep)})
            torch.set_num_threads(threads)
    for r in rows:
        r["speed-up vs DDPM-1000"] = ddpm / r["ms"]
        print(f"| {r['lever']} | {r['ms']:.1f} | {ddpm / r['ms']:.0f}x |", flush=True)
    return rows


def quality(args) -> dict:
    from ldm_sprites.demo_art import make_demo_sprites
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.evaluation.cleanliness import cleanliness_summary
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.metrics import bootstrap_fd
    from ldm_sprites.runtime import bundled_model_dir

    pipe = DiffusionPipeline.from_pretrained(bundled_model_dir(), device="cpu")
    extractor = get_extractor("efficientnet", "cpu")
    size = pipe.config["data"]["size"]
    real, _ = make_demo_sprites(max(1, 4 * args.num // len(pipe.classes)), size, seed=12345)
    real_feats = extractor(real)
    labels = [i % len(pipe.classes) for i in range(args.num)]
    converged = pipe.sample(labels, seed=1, batch_size=64, sampler="dpmpp3m", steps=100,
                            spacing="logsnr")

    def score(p, o, seed):
        x = p.sample(labels, seed=seed, batch_size=64, **o)
        rgba = p.to_rgba(x)
        fd = bootstrap_fd(extractor(rgba), real_feats, seed=0)
        clean = cleanliness_summary(rgba)
        row = {"fd": fd["fd"], "fd_ci95": fd["ci95"],
               **{k: v["median"] for k, v in clean.items()}}
        if seed == 1:
            row["mean |Δ| to converged"] = float((x - converged).abs().mean())
        return row

    rows = {"former default, seed 0": score(pipe, DEFAULT, 0),
            "former default, seed 1": score(pipe, DEFAULT, 1)}
    for o in CANDIDATES:
        rows[label(o) + ", seed 1"] = score(pipe, o, 1)
    rows[label(CANDIDATES[1]) + ", int8, seed 1"] = score(quantized(pipe), CANDIDATES[1], 1)
    data = cleanliness_summary(real)
    rows["demo data (unseen seed)"] = {k: v["median"] for k, v in data.items()}
    return rows


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    if isinstance(v, list):
        return "–".join(fmt(x) for x in v)
    return "" if v is None else str(v)


def main(argv=None) -> None:
    from benchmarks.common import machine, table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=96, help="sprites per quality setting")
    ap.add_argument("--quick", action="store_true", help="fewer sprites and repeats (noisier)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-speed", action="store_true",
                    help="quality only (it does not need an idle machine; the timings do)")
    ap.add_argument("--skip-compile", action="store_true",
                    help="leave out the torch.compile lever (needs a C++ compiler; slow to compile)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    t0 = time.time()
    out = {}
    if not args.skip_speed:
        rows = speed(args)
        print(table([{k: fmt(v) for k, v in r.items()} for r in rows]), flush=True)
        out["speed"] = rows
    if not args.skip_quality:
        q = quality(args)
        keys = sorted({k for r in q.values() for k in r}, key=lambda k: (k != "fd", k))
        print(table([{"setting": name, **{k: fmt(r.get(k)) for k in keys}}
                     for name, r in q.items()]))
        out["quality"] = q
    print(f"({time.time() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
