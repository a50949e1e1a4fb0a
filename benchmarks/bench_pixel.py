"""Pixel-mode speed: DiT vs plain ViT training img/s at the DDPM-baseline size, and per-sprite
sampling time of DDPM-1000 vs DDIM-25 vs DPM-Solver++-25 (batch 64).

    python -m benchmarks.bench_pixel [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.baselines import PlainViTDenoiser
from benchmarks.common import eps_training_step, machine, table, timed
from ldm_sprites.diffusion.dit import build_dit
from ldm_sprites.diffusion.guidance import GuidedDenoiser
from ldm_sprites.diffusion.samplers import SAMPLERS
from ldm_sprites.diffusion.schedule import NoiseSchedule


def train_img_per_s(model, batch: int, steps: int, size: int = 64) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    s = NoiseSchedule()
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(batch, 4, size, size, generator=g) * 2 - 1
    y = torch.zeros(batch, dtype=torch.long)

    def run():
        for _ in range(steps):
            eps_training_step(model, opt, s, x0, y, g)

    return batch * steps / timed(run, repeat=2, warmup=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps (noisier numbers)")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"machine: {machine()}\n")
    dit = build_dit("ddpm", input_size=64, in_channels=4, patch_size=4, num_classes=1)
    vit = PlainViTDenoiser(num_classes=1)
    nparams = lambda m: f"{sum(p.numel() for p in m.parameters()) / 1e6:.1f} M"
    steps = 2 if args.quick else 4
    rows = []
    # Alternate the two so that load from other processes hits both alike.
    dit_ips = train_img_per_s(dit, 32, steps)
    vit_ips = train_img_per_s(vit, 32, steps)
    dit_ips = max(dit_ips, train_img_per_s(dit, 32, steps))
    vit_ips = max(vit_ips, train_img_per_s(vit, 32, steps))
    t0 = time.perf_counter()
    compiled = torch.compile(dit)
    train_img_per_s(compiled, 32, 1)  # compile (forward + backward graphs)
    compile_s = time.perf_counter() - t0
    comp_ips = train_img_per_s(compiled, 32, steps)
    rows.append({"model (64x64, patch 4, w288 d16 h8)": "DiT adaLN-Zero (ours)", "params": nparams(dit),
                 "train img/s (batch 32)": f"{dit_ips:.2f}"})
    rows.append({"model (64x64, patch 4, w288 d16 h8)": f"DiT + torch.compile ({compile_s:.0f} s to compile)",
                 "params": nparams(dit), "train img/s (batch 32)": f"{comp_ips:.2f}"})
    rows.append({"model (64x64, patch 4, w288 d16 h8)": "plain nn.TransformerEncoder ViT",
                 "params": nparams(vit), "train img/s (batch 32)": f"{vit_ips:.2f}"})
    print(table(rows))
    print(f"\nDiT / plain ViT training speed: eager {dit_ips / vit_ips:.2f}x, "
          f"compiled {comp_ips / vit_ips:.2f}x\n")

    dit.eval()
    batch = 64
    # Every step of a sampler costs one network evaluation of the same batch, so each sampler is
    # timed over a slice of its steps and scaled to its full length (a full DDPM-1000 run at
    # batch 64 would take hours on 2 cores).
    slice_steps = 3 if args.quick else 10
    s = NoiseSchedule()
    den = GuidedDenoiser(dit, s, torch.zeros(batch, dtype=torch.long), 1, 1.0, clip_x0=1.0)
    x = torch.randn(batch, 4, 64, 64)
    with torch.no_grad():
        den(x, 999)  # warm-up
    per_sprite = {}
    for name, total in (("ddpm", 1000), ("ddim", 25), ("dpmpp", 25)):
        ts = s.spaced_timesteps(total)
        t0 = time.perf_counter()
        SAMPLERS[name](den, x.clone(), s, ts[:slice_steps], generator=torch.Generator().manual_seed(0))
        per_sprite[name] = (time.perf_counter() - t0) / slice_steps * total / batch
    ddpm = per_sprite["ddpm"]
    rows = [{"sampler": "DDPM ancestral, 1000 steps", "s per sprite": f"{ddpm:.2f}", "speed-up": "1x"}]
    for name, label in (("ddim", "DDIM, 25 steps"), ("dpmpp", "DPM-Solver++(2M), 25 steps")):
        rows.append({"sampler": label, "s per sprite": f"{per_sprite[name]:.3f}",
                     "speed-up": f"{ddpm / per_sprite[name]:.0f}x"})
    print(f"sampling, DDPM-baseline DiT (64x64, 256 tokens), batch {batch}, no guidance; each "
          f"sampler timed over {slice_steps} steps and scaled to its length:")
    print(table(rows))


if __name__ == "__main__":
    main()
