"""The headline benchmark suite: one table with machine details.

    python -m benchmarks            # or: python benchmarks/run.py [--quick]

Rows, each measured side by side in this one run where a ratio is the claim:
1. per-sprite sampling: the DDPM-1000 pixel baseline (configs/ddpm-pixel.yaml, 64x64) vs the
   default latent config (configs/ae-kl.yaml + configs/dit-latent.yaml, 64x64 -> 16x16x4) with
   CFG 3 and its configured sampler (UniPC, 12 log-SNR steps), AE decode included. Weights are random: speed does not
   depend on them. DDPM-1000 is timed over a slice of steps and scaled to 1000 (every step costs
   the same).
2. training img/s, pixel vs latent, at the same DiT width and depth (small preset).
3. reconstruction PSNR / alpha IoU of the bundled demo autoencoder on held-out demo sprites.
4. export time for 64 sprites (upscale x8, SVG, stickers, sheet, GIF).
5. the bundled model: 64 sprites with CFG in its default steps; cold `ldmsprites generate`
   (process start -> PNG written) wall time and peak RSS; `ldmsprites demo` wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def _random_ae(tmp: Path, config: str):
    """An autoencoder with the architecture of ``config`` and random weights, as a model dir."""
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.autoencoder.handle import build_from_config
    from ldm_sprites.config_loader import load_yaml
    from ldm_sprites.modeldir import save_model_dir

    cfg = load_yaml(ROOT / config)
    config_dict = {"kind": "autoencoder", "model": cfg["model"], "data": cfg["data"],
                   "scale_factor": 1.0}
    torch.manual_seed(0)
    model = build_from_config(config_dict)
    path = save_model_dir(tmp / "ae", config_dict, {"ema": model.state_dict()})
    return load_autoencoder(path, device="cpu")


def ddpm_per_sprite(n_steps: int, batch: int = 64) -> float:
    """Seconds per sprite of the DDPM-1000 pixel baseline (configs/ddpm-pixel.yaml's DiT, 64x64,
    no guidance), timed over ``n_steps`` steps and scaled to 1000 (every step costs the same)."""
    from ldm_sprites.diffusion.dit import build_dit
    from ldm_sprites.diffusion.guidance import GuidedDenoiser
    from ldm_sprites.diffusion.samplers import sample_ddpm
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    torch.manual_seed(0)
    dit = build_dit("ddpm", input_size=64, in_channels=4, patch_size=4, num_classes=18).eval()
    s = NoiseSchedule()
    den = GuidedDenoiser(dit, s, torch.zeros(batch, dtype=torch.long), 18, 1.0, clip_x0=1.0)
    x = torch.randn(batch, 4, 64, 64)
    with torch.no_grad():
        den(x, 999)  # warm-up
        t0 = time.perf_counter()
        sample_ddpm(den, x, s, list(range(999, 999 - n_steps, -1)),
                    generator=torch.Generator().manual_seed(0))
    return (time.perf_counter() - t0) / n_steps * 1000 / batch


def latent_default_pipeline(tmp: Path):
    """The default latent config (configs/ae-kl.yaml + configs/dit-latent.yaml, 18 classes) with
    random weights, and its saved sampling section."""
    from ldm_sprites.config_loader import load_yaml
    from ldm_sprites.diffusion.dit import build_dit
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    latent_cfg = load_yaml(ROOT / "configs/dit-latent.yaml")
    ae = _random_ae(tmp, "configs/ae-kl.yaml")
    torch.manual_seed(0)
    model = build_dit(latent_cfg["model"]["preset"], input_size=ae.latent_size,
                      in_channels=ae.latent_channels, patch_size=latent_cfg["model"]["patch_size"],
                      num_classes=18).eval().requires_grad_(False)
    pipe = DiffusionPipeline(model, NoiseSchedule(), "eps", [str(i) for i in range(18)],
                             {"x0_clip": 4.0, "sample": latent_cfg["sample"]},
                             torch.device("cpu"), ae)
    return pipe, latent_cfg["sample"]


def sampling_ratio(quick: bool) -> dict:
    batch = 64
    ddpm = ddpm_per_sprite(5 if quick else 20, batch)
    with tempfile.TemporaryDirectory() as tmp:
        pipe, smp = latent_default_pipeline(Path(tmp))
        interval = (smp.get("guidance_sigma_min", 0.0), smp.get("guidance_sigma_max", 0.0))
        labels = [i % 18 for i in range(batch)]
        times = {}
        for name, itv in (("all steps", "all"), ("interval", interval)):   # "all": every step
            pipe.sample(labels[:4], guidance=smp["guidance"], steps=2, seed=0)  # warm-up
            t0 = time.perf_counter()
            pipe.to_rgba(pipe.sample(labels, guidance=smp["guidance"], sampler=smp["sampler"],
                                     steps=smp["steps"], spacing=smp.get("spacing"), seed=0,
                                     batch_size=batch, guidance_interval=itv))
            times[name] = (time.perf_counter() - t0) / batch
    return {"ddpm": ddpm, "latent": times["interval"], "latent_all": times["all steps"],
            "ratio": ddpm / times["interval"], "ratio_all": ddpm / times["all steps"],
            "sampler": smp["sampler"], "steps": smp["steps"], "spacing": smp.get("spacing")}


def throughput(preset: str, ae, batch: int, n_classes: int = 18) -> dict:
    """Training img/s (forward, backward, AdamW) of the same DiT on 64x64x4 pixels at patch 4
    (256 tokens) and on the autoencoder's latents at patch 2 (64 tokens)."""
    from benchmarks.common import eps_training_step, timed
    from ldm_sprites.diffusion.dit import build_dit
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    schedule = NoiseSchedule("cosine", 1000)
    rows = {}
    for mode, (ch, size, patch) in {"pixel": (4, 64, 4),
                                    "latent": (ae.latent_channels, ae.latent_size, 2)}.items():
        torch.manual_seed(0)
        model = build_dit(preset, input_size=size, in_channels=ch, patch_size=patch,
                          num_classes=n_classes)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        g = torch.Generator().manual_seed(0)
        x0 = torch.randn(batch, ch, size, size)

        def step():
            y = torch.randint(n_classes, (batch,), generator=g)
            eps_training_step(model, opt, schedule, x0, y, g, train=True, generator=g)
        rows[mode] = {"tokens": model.config.num_tokens, "img_per_s": batch / timed(step)}
    rows["speedup"] = rows["latent"]["img_per_s"] / rows["pixel"]["img_per_s"]
    return rows


def train_ratio() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ae = _random_ae(Path(tmp), "configs/ae-kl.yaml")
        return dict(throughput("small", ae, batch=32), channels=ae.latent_channels)


def bundled_ae_quality() -> dict:
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.autoencoder.metrics import finish, recon_sums
    from ldm_sprites.data.tensors import rgba_uint8_to_model
    from ldm_sprites.demo_art import make_demo_sprites
    from ldm_sprites.runtime import bundled_model_dir

    ae = load_autoencoder(Path(bundled_model_dir()) / "ae", device="cpu")
    # seed 12345: sprites the model never saw (the bundle was trained on seed 0)
    imgs, _ = make_demo_sprites(50, ae.data_spec.size, seed=12345)
    x = rgba_uint8_to_model(torch.from_numpy(imgs).permute(0, 3, 1, 2))
    rec = ae.decode(ae.encode(x)).clamp(-1, 1)
    m = finish(recon_sums(rec, x))
    return {"psnr": m["psnr"], "iou": m["alpha_iou"]}


def export_time() -> float:
    from benchmarks.bench_export import bench_sprites
    from ldm_sprites.export import ExportOptions, export_sprites

    sprites, _ = bench_sprites(64, 32)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        export_sprites(sprites, out, ExportOptions(upscale=8))
        return time.perf_counter() - t0


def bundled_sampling() -> float:
    from ldm_sprites import api

    pipe = api.load_pipeline(device="cpu")
    api.generate(pipe, num=4, seed=0)  # warm-up
    t0 = time.perf_counter()
    api.generate(pipe, num=64, seed=0)
    return time.perf_counter() - t0


def _run_cli(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a fresh ``ldmsprites`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "ldm_sprites", *args], capture_output=True,
                         text=True, env=dict(os.environ, LDMSPRITES_QUIET="1"))
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main() -> None:
    from benchmarks.common import machine

    ap = argparse.ArgumentParser(description="ldm-sprites headline benchmarks")
    ap.add_argument("--quick", action="store_true", help="shorter timings (noisier)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = []

    def row(what, value, target=""):
        rows.append((what, value, target))
        print(f"| {what} | {value} | {target} |", flush=True)

    print("| measure | result | target |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        wall, rss = _run_cli(["generate", "--class", "fire", "--guidance", "3",
                              "--out", f"{tmp}/fire.png"])
        row("cold `ldmsprites generate --class fire` (bundled model, 16 sprites)",
            f"{wall:.2f} s, peak RSS {rss:.0f} MB", "≤ 5 s, ≤ 1.5 GB")
        wall, _ = _run_cli(["demo", "--out", f"{tmp}/demo"])
        row("`ldmsprites demo` (24 sprites, GIF, SVG stickers, sheet)", f"{wall:.1f} s", "≤ 60 s")
    row("bundled model: 64 sprites, CFG, its default sampler", f"{bundled_sampling():.2f} s",
        "≤ 10 s")
    s = sampling_ratio(args.quick)
    row("per sprite: DDPM-1000 pixel baseline (64×64, DiT w288 d16)", f"{s['ddpm']:.2f} s")
    solver = f"{s['sampler']} {s['steps']} {s['spacing']}"
    row(f"per sprite: latent default config, CFG 3 on every step, {solver}, decode",
        f"{s['latent_all'] * 1000:.0f} ms ({s['ratio_all']:.0f}× faster)")
    row(f"per sprite: latent default config, CFG 3 in σ∈(0.3, 5] (its default), {solver}, decode",
        f"{s['latent'] * 1000:.0f} ms")
    row("sampling speed-up latent (default config) vs DDPM-1000 pixel", f"{s['ratio']:.0f}×", "≥ 300×")
    t = train_ratio()
    row("train img/s, DiT small, pixel 64×64 / patch 4 (256 tokens)", f"{t['pixel']['img_per_s']:.1f}")
    row(f"train img/s, DiT small, latent 16×16×{t['channels']} / patch 2 (64 tokens)",
        f"{t['latent']['img_per_s']:.1f}")
    row("training speed-up latent vs pixel", f"{t['speedup']:.2f}×", "≥ 3.5×")
    q = bundled_ae_quality()
    row("bundled demo AE on unseen demo sprites: PSNR / alpha IoU",
        f"{q['psnr']:.1f} dB / {q['iou']:.3f}")
    row("export 64 sprites (×8 PNG, SVG, stickers, sheet, GIF)", f"{export_time():.2f} s", "≤ 10 s")


if __name__ == "__main__":
    main()
