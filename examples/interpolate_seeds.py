"""Walk between two seeds: spherical interpolation of the initial noise, deterministic sampler.

    python examples/interpolate_seeds.py --class fire --seeds 0,1 --frames 8 --out interp.png

With a deterministic sampler (DPM-Solver++ or DDIM with eta 0) the sprite is a smooth function of
x_T, so interpolating x_T morphs one sprite into the other. Slerp, not lerp: a straight line
between two Gaussian samples passes through low-norm points the model never saw.
"""

import argparse

import numpy as np
import torch

from ldm_sprites import api
from ldm_sprites.image_files import make_grid, save_png


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    af, bf = a.flatten(), b.flatten()
    omega = torch.arccos((af @ bf / (af.norm() * bf.norm())).clamp(-1, 1))
    if omega.abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--class", dest="cls", default=None)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default="interpolation.png")
    args = ap.parse_args()
    pipe = api.load_pipeline(args.model)
    s0, s1 = (int(s) for s in args.seeds.split(","))
    shape = pipe.noise_shape
    a = torch.randn(shape, generator=torch.Generator().manual_seed(s0))
    b = torch.randn(shape, generator=torch.Generator().manual_seed(s1))
    noise = torch.stack([slerp(a, b, t) for t in np.linspace(0, 1, args.frames)])
    cls = [args.cls] if args.cls else ([pipe.classes[0]] if pipe.classes else None)
    sprites, _ = api.generate(pipe, classes=cls, num=args.frames, noise=noise, sampler="dpmpp",
                              steps=args.steps)
    save_png(args.out, make_grid(sprites, nrow=args.frames, scale=4))
    print(f"{args.out}: {args.frames} sprites from seed {s0} to seed {s1}")


if __name__ == "__main__":
    main()
