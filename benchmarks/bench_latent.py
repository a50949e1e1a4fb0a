"""Latent vs pixel diffusion on a CPU: training throughput, 64-sprite sampling time, loss per minute.

    python -m benchmarks.bench_latent --ae runs/ae-kl                  # throughput + sampling
    python -m benchmarks.bench_latent --ae runs/ae-kl --data ../shared/data/pokemon-sprites \
        --minutes 5                                                    # + held-out loss per minute

Throughput: one training step (forward, backward, AdamW) of the *same* DiT width and depth on
64x64x4 pixels at patch 4 (256 tokens) and on 16x16xC latents at patch 2 (64 tokens). Sampling:
64 sprites, classifier-free guidance 3, DPM-Solver++ 25 steps, AE decode included. Weights are
random for the timings (speed does not depend on them). The loss comparison trains both modes for
the same wall time and reports, at fixed held-out (sprite, t, noise) triples, the epsilon-MSE (in
each model's own space, so not comparable across modes) and the MSE of the denoised estimate x0_hat
against the real sprites in pixels (latent x0_hat decoded by the AE), which is comparable.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from benchmarks.common import eps_training_step, timed
from ldm_sprites.diffusion.dit import build_dit
from ldm_sprites.diffusion.schedule import NoiseSchedule


def train_step_fn(model, schedule, x0: torch.Tensor, n_classes: int):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)

    def step():
        y = torch.randint(n_classes, (x0.shape[0],), generator=g)
        eps_training_step(model, opt, schedule, x0, y, g, train=True, generator=g)
    return step


def throughput(preset: str, ae, batch: int, n_classes: int = 18) -> dict:
    schedule = NoiseSchedule("cosine", 1000)
    c, s = ae.latent_channels, ae.latent_size
    rows = {}
    for mode, (ch, size, patch) in {"pixel": (4, 64, 4), "latent": (c, s, 2)}.items():
        torch.manual_seed(0)
        model = build_dit(preset, input_size=size, in_channels=ch, patch_size=patch,
                          num_classes=n_classes)
        sec = timed(train_step_fn(model, schedule, torch.randn(batch, ch, size, size), n_classes))
        rows[mode] = {"tokens": model.config.num_tokens, "img_per_s": batch / sec}
    rows["speedup"] = rows["latent"]["img_per_s"] / rows["pixel"]["img_per_s"]
    return rows


def sampling_time(preset: str, ae, n: int = 64, steps: int = 25) -> float:
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    torch.manual_seed(0)
    model = build_dit(preset, input_size=ae.latent_size, in_channels=ae.latent_channels,
                      patch_size=2, num_classes=18).eval().requires_grad_(False)
    pipe = DiffusionPipeline(model, NoiseSchedule("cosine", 1000), "eps", [str(i) for i in range(18)],
                             {}, torch.device("cpu"), ae)

    def run():
        x = pipe.sample([i % 18 for i in range(n)], guidance=3.0, sampler="dpmpp", steps=steps,
                        seed=0, batch_size=n)
        pipe.to_rgba(x)
    return timed(run, repeat=2)


def loss_per_minute(preset: str, ae, data_dir: str, minutes: float, batch: int) -> dict:
    """Train pixel and latent DiTs for the same wall time; held-out eps-MSE at fixed (t, noise)."""
    from ldm_sprites.autoencoder import encode_dataset
    from ldm_sprites.autoencoder.task import holdout_split
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.data.tensors import rgba_uint8_to_model

    data = load_sprite_data(data_dir, DataSpec(64, 4, label_column="type1"))
    train_ids, held = holdout_split(len(data), 0.1, 0)
    latents = encode_dataset(ae, data, flip=True)
    ae_clip = float(latents.abs().max())  # x0_hat kept in the data's range, as sampling does
    schedule = NoiseSchedule("cosine", 1000)
    pixels = rgba_uint8_to_model(data.images, 4)
    held_pixels = pixels[held].repeat(4, 1, 1, 1)  # what both modes' x0_hat is compared with
    spaces = {"pixel": (pixels[None], 64, 4), "latent": (latents, ae.latent_size, 2)}
    out = {}
    for mode, (x_all, size, patch) in spaces.items():
        torch.manual_seed(0)
        ch = x_all.shape[2]
        model = build_dit(preset, input_size=size, in_channels=ch, patch_size=patch,
                          num_classes=len(data.classes))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        g = torch.Generator().manual_seed(0)
        steps, t_end = 0, time.perf_counter() + minutes * 60
        while time.perf_counter() < t_end:
            idx = train_ids[torch.randint(len(train_ids), (batch,), generator=g)]
            view = torch.randint(x_all.shape[0], (batch,), generator=g)
            eps_training_step(model, opt, schedule, x_all[view, idx], data.labels[idx], g,
                              train=True, generator=g)
            steps += 1
        model.eval()
        ge = torch.Generator().manual_seed(1)
        x0 = x_all[0, held].repeat(4, 1, 1, 1)
        t = torch.randint(schedule.T, (x0.shape[0],), generator=ge)
        noise = torch.randn(x0.shape, generator=ge)
        with torch.no_grad():
            x_t = schedule.q_sample(x0, t, noise)
            pred = model(x_t, t, data.labels[held].repeat(4))
            # The eps-MSEs live in different spaces; the denoised estimate x0_hat, seen as pixels
            # (latents decoded by the AE), is comparable: MSE against the real held-out sprites.
            x0_hat, _ = schedule.to_x0_eps(x_t, t, pred, "eps")
            if mode == "latent":
                x0_hat = ae.decode(x0_hat.clamp(-ae_clip, ae_clip))
            pixel_mse = F.mse_loss(x0_hat.clamp(-1, 1), held_pixels).item()
        out[mode] = {"steps": steps, "heldout_eps_mse": F.mse_loss(pred, noise).item(),
                     "heldout_x0_pixel_mse": pixel_mse}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ae", required=True, help="autoencoder run or model directory")
    p.add_argument("--presets", default="tiny,small")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--data", default=None, help="data folder for the loss-per-minute comparison")
    p.add_argument("--minutes", type=float, default=0.0)
    args = p.parse_args()
    from ldm_sprites.autoencoder import load_autoencoder

    torch.set_num_threads(max(1, torch.get_num_threads()))
    ae = load_autoencoder(args.ae, device="cpu")
    print(f"autoencoder {ae.reference()['path']}: latent {ae.latent_channels}x{ae.latent_size}^2, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| preset | pixel img/s (256 tok) | latent img/s (64 tok) | speed-up | "
          "sample 64 (CFG, DPM++ 25, decode) |")
    print("|---|---|---|---|---|")
    for preset in args.presets.split(","):
        r = throughput(preset, ae, args.batch)
        s = sampling_time(preset, ae)
        print(f"| {preset} | {r['pixel']['img_per_s']:.1f} | {r['latent']['img_per_s']:.1f} | "
              f"{r['speedup']:.2f}x | {s:.2f} s |", flush=True)
    if args.data and args.minutes > 0:
        for preset in args.presets.split(","):
            r = loss_per_minute(preset, ae, args.data, args.minutes, args.batch)
            print(f"{preset}, {args.minutes} min each: " + "; ".join(
                f"{k}: {v['steps']} steps, held-out eps-MSE {v['heldout_eps_mse']:.4f}, "
                f"x0-MSE in pixels {v['heldout_x0_pixel_mse']:.4f}"
                for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
