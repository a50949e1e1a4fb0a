"""Train a class-conditional diffusion model on a folder of sprites and look at what it makes.

    python examples/train_on_folder.py --data path/to/sprites --label-column type --out runs/mine
    python examples/train_on_folder.py --tiny --out /tmp/ex   # seconds, on a generated demo set

The folder may hold a metadata.csv (Hugging Face imagefolder), one sub-folder per class, or just
images (unconditional). Pass --ae runs/ae to train in an autoencoder's latent space instead.
"""

import argparse
from pathlib import Path

from ldm_sprites import api
from ldm_sprites.image_files import make_grid, save_png


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="folder of sprites (default: a generated demo set)")
    ap.add_argument("--label-column", default="type")
    ap.add_argument("--config", default="configs/pixel-tiny.yaml")
    ap.add_argument("--ae", default=None, help="autoencoder directory for latent mode")
    ap.add_argument("--out", default="runs/example")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--tiny", action="store_true", help="a few steps on 16x16 sprites (for tests)")
    args = ap.parse_args()
    out = Path(args.out)
    data = args.data
    if data is None:
        data = api.write_demo_set(out / "data", n_per_class=4 if args.tiny else 200,
                                  size=16 if args.tiny else 32)
    overrides = dict(label_column=args.label_column)
    if args.tiny:
        overrides.update(preset="nano", size=16, steps=4, batch_size=8, sample_every=0,
                         checkpoint_every=4)
    if args.steps:
        overrides["steps"] = args.steps
    model = api.train_diffusion(data, out / "run", config=None if args.tiny else args.config,
                                ae=args.ae, **overrides)
    pipe = api.load_pipeline(model)
    sprites, names = api.generate(pipe, num=4 * max(1, len(pipe.classes)), seed=0,
                                  steps=5 if args.tiny else None)
    order = sorted(range(len(names)), key=lambda i: (names[i], i))
    save_png(out / "samples.png", make_grid(sprites[order], nrow=4, scale=4))
    print(f"model: {model}\nsamples: {out / 'samples.png'} (one row per class: "
          f"{', '.join(sorted(set(names)))})")


if __name__ == "__main__":
    main()
