"""Where does a latent model's speckle come from: the decoder, or the sampler?

Two measurements, in the cleanliness statistics of ``ldm_sprites.evaluation.cleanliness``:

1. **Decoder sensitivity** — encode held-out demo sprites, add Gaussian noise of 0 / 5 / 10 / 20 %
   of the latent std, decode. A decoder that turns small latent errors into speckle cannot give
   clean sprites from a diffusion model, whose samples are never exactly on the encoder's latents.
2. **Sampler sensitivity** (``--samplers``) — the same model sampled with other samplers, step
   counts and guidance scales. If none of them changes the statistics, the sampler is not the cause.

    OMP_NUM_THREADS=1 python -m benchmarks.bench_speckle                       # bundled model's AE
    OMP_NUM_THREADS=1 python -m benchmarks.bench_speckle --ae runs/demo-ae-ln  # any autoencoder(s)
    OMP_NUM_THREADS=1 python -m benchmarks.bench_speckle --samplers            # + sampler table
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ldm_sprites.autoencoder.handle import load_autoencoder
from ldm_sprites.data.tensors import model_to_rgba_uint8, rgba_uint8_to_model
from ldm_sprites.demo_art import make_demo_sprites
from ldm_sprites.diffusion.pipeline import DiffusionPipeline
from ldm_sprites.evaluation.cleanliness import cleanliness_summary, format_table
from ldm_sprites.runtime import bundled_model_dir

NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2)
SAMPLER_RUNS = ({}, {"steps": 50}, {"sampler": "ddim", "steps": 50},
                {"sampler": "ddpm", "steps": 250}, {"guidance": 1.0}, {"guidance": 5.0})


def decoder_table(ae_dir: str, real, seed: int = 0) -> dict:
    ae = load_autoencoder(ae_dir)
    x = rgba_uint8_to_model(torch.from_numpy(real).permute(0, 3, 1, 2))
    cols = {}
    with torch.no_grad():
        z = ae.encode(x)  # scaled latents: unit std, so the noise is a fraction of the std
        for s in NOISE_LEVELS:
            noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed))
            cols[f"z + {s:g}·std"] = cleanliness_summary(
                model_to_rgba_uint8(ae.decode(z + s * noise).clamp(-1, 1)))
    return cols


def sampler_table(model_dir: str, n: int = 96) -> dict:
    pipe = DiffusionPipeline.from_pretrained(model_dir)
    labels, _ = pipe.spread_labels(None, n)
    cols = {}
    for kw in SAMPLER_RUNS:
        t0 = time.perf_counter()
        raw = pipe.to_rgba(pipe.sample(labels, seed=0, **kw))
        name = ", ".join(f"{k} {v}" for k, v in kw.items()) or "model defaults"
        cols[name] = cleanliness_summary(raw)
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return cols


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ae", nargs="*", default=None,
                    help="Autoencoder directories (default: the bundled model's).")
    ap.add_argument("--model", default=None, help="Diffusion model for --samplers (default: bundled).")
    ap.add_argument("--samplers", action="store_true", help="Also the sampler-sensitivity table.")
    ap.add_argument("--num-per-class", type=int, default=16)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    real, _ = make_demo_sprites(args.num_per_class, size=32, seed=123)  # not the training seed
    for ae_dir in args.ae or [str(Path(bundled_model_dir()) / "ae")]:
        print(f"\ndecoder sensitivity: {ae_dir} ({len(real)} held-out demo sprites)")
        print(format_table({"real": cleanliness_summary(real), **decoder_table(ae_dir, real)}))
    if args.samplers:
        model = args.model or bundled_model_dir()
        print(f"\nsampler sensitivity: {model}, raw output")
        print(format_table(sampler_table(model)))


if __name__ == "__main__":
    main()
