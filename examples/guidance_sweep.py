"""A grid of classes × guidance scales from the same noise: see what classifier-free guidance does.

    python examples/guidance_sweep.py --out sweep.png                 # bundled demo model
    python examples/guidance_sweep.py --model runs/px --scales 1,2,4,8 --out sweep.png

Each column uses the same initial noise, so only the guidance scale changes along a row:
scale 1 is the plain conditional model, larger scales push harder towards the class.
"""

import argparse

import numpy as np

from ldm_sprites import api
from ldm_sprites.image_files import make_grid, save_png


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--classes", default=None, help="comma list (default: all)")
    ap.add_argument("--scales", default="0,1,2,3,5,8")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="guidance-sweep.png")
    args = ap.parse_args()
    pipe = api.load_pipeline(args.model)
    classes = args.classes.split(",") if args.classes else (pipe.classes or ["sprite"])
    scales = [float(s) for s in args.scales.split(",")]
    rows = []
    for cls in classes:
        for g in scales:  # same seed -> same x_T for every scale
            sprites, _ = api.generate(pipe, classes=[cls] if pipe.classes else None, num=1,
                                      guidance=g, seed=args.seed, steps=args.steps)
            rows.append(sprites[0])
    grid = make_grid(np.stack(rows), nrow=len(scales), scale=4)
    save_png(args.out, grid)
    print(f"{args.out}: rows = {', '.join(classes)}; columns = guidance {', '.join(map(str, scales))}")


if __name__ == "__main__":
    main()
