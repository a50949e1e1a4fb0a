"""The GPU numbers, one command away: bf16 training img/s, sampling ms/sprite, peak memory, MFU.

    python -m benchmarks.bench_gpu                    # on a CUDA GPU, <= 5 minutes
    python -m benchmarks.bench_gpu --dry-run          # anywhere: configs, models, FLOP counts

Two models, both with random weights (speed does not depend on them):

* **ddpm-pixel** — the DDPM baseline of ``configs/ddpm-pixel.yaml`` (64x64 RGBA, DiT width 288,
  depth 16, patch 4: 256 tokens); sampled with ancestral DDPM, 1000 steps, no guidance.
* **latent-default** — ``configs/dit-latent.yaml`` in the latent space of ``configs/ae-kl.yaml``
  (64x64 -> 16x16x32 latents, patch 2: 64 tokens); sampled with the config's own sampler, steps
  and guidance (CFG in its sigma interval), AE decode included.

Training: AdamW step (forward, backward, update) under ``torch.autocast(bfloat16)``, batch
``--batch`` (default 256), timed over ``--steps`` steps after 3 warm-up steps. Sampling: a batch
of ``--sample-batch`` sprites under bf16 autocast; DDPM-1000 is timed over ``--ddpm-steps`` of its
steps and scaled to 1000 (every step costs the same). FLOPs are counted with
``torch.utils.flop_counter`` on one image (forward + backward for training, forward for
sampling; attention through the math backend so that it is counted on every device), so MFU = counted FLOP/s / the GPU's dense bf16 peak (a table of known GPUs, or
``--peak-tflops``). Peak memory is ``torch.cuda.max_memory_allocated`` per measurement.

Writes ``gpu-bench.json`` and ``gpu-bench.md`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
N_CLASSES = 18

# Dense bf16 tensor-core peak (no sparsity), TFLOP/s, by a substring of the device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 PCIe": 756.0, "H100": 756.0,
                    "GH200": 989.0, "B200": 2250.0, "A100": 312.0, "A10G": 70.0, "A10": 125.0,
                    "L40S": 362.0, "L40": 181.0, "L4": 121.0, "RTX 4090": 165.0,
                    "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0}


def peak_tflops(name: str) -> float | None:
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_BF16_TFLOPS[key]
    return None


def _random_ae(tmp: Path, device):
    from benchmarks.run import _random_ae as build
    from ldm_sprites.autoencoder import load_autoencoder

    ae = build(tmp, "configs/ae-kl.yaml")
    return ae if str(device) == "cpu" else load_autoencoder(tmp / "ae", device=str(device))


def build_models(tmp: Path, device) -> dict:
    """The two benchmarked setups: DiT, input shape, schedule, sampling options, autoencoder."""
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.diffusion.dit import build_dit
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    out = {}
    px = load_config(ROOT / "configs/ddpm-pixel.yaml", DiffusionConfig)
    lat = load_config(ROOT / "configs/dit-latent.yaml", DiffusionConfig)
    ae = _random_ae(tmp, device)
    for name, cfg, (ch, size), autoencoder in (
            ("ddpm-pixel", px, (px.data.channels, px.data.size), None),
            ("latent-default", lat, (ae.latent_channels, ae.latent_size), ae)):
        m = cfg.model
        torch.manual_seed(0)
        model = build_dit(m.preset, input_size=size, in_channels=ch, patch_size=m.patch_size,
                          hidden_size=m.hidden_size, depth=m.depth, num_heads=m.num_heads,
                          mlp_ratio=m.mlp_ratio, num_classes=N_CLASSES,
                          class_dropout=m.class_dropout).to(device)
        s = cfg.sample
        sampling = ({"sampler": "ddpm", "steps": 1000, "guidance": 1.0} if name == "ddpm-pixel"
                    else {"sampler": s.sampler, "steps": s.steps, "guidance": s.guidance,
                          "guidance_interval": s.guidance_interval})
        out[name] = {"model": model, "shape": (ch, size, size), "autoencoder": autoencoder,
                     "schedule": NoiseSchedule(cfg.diffusion.schedule, cfg.diffusion.timesteps),
                     "sampling": sampling, "config": cfg}
    return out


def count_flops(model, shape, train: bool) -> int:
    """FLOPs of one image through ``model`` (forward + backward when ``train``), counted by torch
    on a copy on the meta device (shapes only: nothing is computed)."""
    import copy

    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model).to("meta")
    dev = torch.device("meta")
    x = torch.randn(1, *shape, device=dev)
    t = torch.tensor([500], device=dev)
    y = torch.zeros(1, dtype=torch.long, device=dev)
    counter = FlopCounterMode(display=False)
    # the math backend spells attention as matmuls, which the counter sees on every device
    with counter, sdpa_kernel(SDPBackend.MATH):
        if train:
            model(x, t, y, train=False).float().pow(2).mean().backward()
        else:
            with torch.no_grad():
                model(x, t, y, train=False)
    return int(counter.get_total_flops())


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if device.type == "cuda" else None


def train_throughput(setup: dict, device, batch: int, steps: int) -> dict:
    from benchmarks.common import eps_training_step

    model, schedule = setup["model"], setup["schedule"]
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(batch, *setup["shape"]).to(device)
    y = torch.randint(N_CLASSES, (batch,)).to(device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            eps_training_step(model, opt, schedule, x0, y, g, train=True, generator=g)
    _reset_peak(device)
    for _ in range(3):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    sec = (time.perf_counter() - t0) / steps
    return {"img_per_s": round(batch / sec, 2), "ms_per_step": round(sec * 1000, 2),
            "peak_mem_gb": _peak_gb(device)}


def sampling_time(setup: dict, device, batch: int, ddpm_steps: int) -> dict:
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    model = setup["model"].eval()
    opts = dict(setup["sampling"])
    pipe = DiffusionPipeline(model, setup["schedule"], "eps", [str(i) for i in range(N_CLASSES)],
                             {"x0_clip": 1.0 if setup["autoencoder"] is None else 4.0}, device,
                             setup["autoencoder"])
    labels = [i % N_CLASSES for i in range(batch)]
    scale = 1.0
    if opts["sampler"] == "ddpm":   # time a slice of the 1000 steps, scale to all of them
        scale, opts["steps"] = opts["steps"] / ddpm_steps, ddpm_steps
    _reset_peak(device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        pipe.sample(labels[:8], seed=0, batch_size=8, **dict(opts, steps=2))   # warm-up
        _sync(device)
        t0 = time.perf_counter()
        x = pipe.sample(labels, seed=0, batch_size=batch, **opts)
        pipe.to_rgba(x)
        _sync(device)
    per = (time.perf_counter() - t0) * scale / batch
    return {"ms_per_sprite": round(per * 1000, 3), "peak_mem_gb": _peak_gb(device),
            **{k: v for k, v in setup["sampling"].items() if k != "guidance_interval"}}


def plan(args, setups: dict) -> dict:
    """What will be measured, with FLOP counts; checked by --dry-run."""
    rows = {}
    for name, s in setups.items():
        params = sum(p.numel() for p in s["model"].parameters())
        rows[name] = {"params_m": round(params / 1e6, 2), "tokens": s["model"].config.num_tokens,
                      "input": list(s["shape"]),
                      "train_gflop_per_image": round(count_flops(s["model"], s["shape"], True) / 1e9, 3),
                      "forward_gflop_per_image": round(count_flops(s["model"], s["shape"], False) / 1e9, 3),
                      "analytic_forward_gflop": round(s["model"].flops_per_image() / 1e9, 3),
                      "train_batch": args.batch, "train_steps": args.steps,
                      "sample_batch": args.sample_batch, "sampling": {
                          k: v for k, v in s["sampling"].items() if k != "guidance_interval"}}
    return rows


def markdown(result: dict) -> str:
    lines = [f"machine: {result['machine']}", "",
             "| model | params | tokens | train GFLOP/img | bf16 train img/s | MFU | train peak GB "
             "| sampling | ms/sprite | sample peak GB |", "|" + "---|" * 10]
    for name, r in result["models"].items():
        smp = r["sampling"]
        t, s = r.get("train", {}), r.get("sample", {})
        mfu = f"{t['mfu'] * 100:.1f} %" if t.get("mfu") is not None else "–"
        lines.append(f"| {name} | {r['params_m']} M | {r['tokens']} | {r['train_gflop_per_image']} "
                     f"| {t.get('img_per_s', '–')} | {mfu} | {t.get('peak_mem_gb', '–')} "
                     f"| {smp['sampler']} {smp['steps']}, CFG {smp['guidance']} "
                     f"| {s.get('ms_per_sprite', '–')} | {s.get('peak_mem_gb', '–')} |")
    if result.get("dry_run"):
        lines += ["", "dry run: plan and FLOP counts only, nothing timed."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true",
                   help="load configs, build models, count FLOPs; time nothing (works on a CPU)")
    p.add_argument("--device", default=None, help="default: cuda (required unless --dry-run)")
    p.add_argument("--batch", type=int, default=256, help="training batch")
    p.add_argument("--steps", type=int, default=30, help="timed training steps per model")
    p.add_argument("--sample-batch", type=int, default=256)
    p.add_argument("--ddpm-steps", type=int, default=50, help="DDPM steps timed (scaled to 1000)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="dense bf16 peak of the GPU, if it is not in the built-in table")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)

    from benchmarks.common import machine

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if not args.dry_run and device.type != "cuda" and args.device is None:
        raise SystemExit("no CUDA GPU here: run with --dry-run to check the plan, or pass "
                         "--device cpu to time it on the CPU anyway")
    t_start = time.perf_counter()
    result = {"machine": machine(), "dry_run": args.dry_run, "device": str(device)}
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    peak = args.peak_tflops or (peak_tflops(gpu_name) if gpu_name else None)
    result["peak_bf16_tflops"] = peak
    with tempfile.TemporaryDirectory() as tmp:
        setups = build_models(Path(tmp), torch.device("cpu") if args.dry_run else device)
        result["models"] = plan(args, setups)
        if not args.dry_run:
            for name, s in setups.items():
                r = result["models"][name]
                t = train_throughput(s, device, args.batch, args.steps)
                flops_per_s = t["img_per_s"] * r["train_gflop_per_image"] * 1e9
                t["tflops"] = round(flops_per_s / 1e12, 2)
                t["mfu"] = round(flops_per_s / (peak * 1e12), 4) if peak else None
                r["train"] = t
                r["sample"] = sampling_time(s, device, args.sample_batch, args.ddpm_steps)
                print(json.dumps({name: {"train": r["train"], "sample": r["sample"]}}), flush=True)
            px, lat = (result["models"][k]["sample"]["ms_per_sprite"]
                       for k in ("ddpm-pixel", "latent-default"))
            result["sampling_speedup_latent_vs_ddpm"] = round(px / lat, 1)
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu-bench-dry-run" if args.dry_run else "gpu-bench"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
