"""Edit a sprite you already have: variations at three strengths, an inpainted box, a new class.

    python examples/edit_sprites.py path/to/sprite.png --to-class fire --out edits.png

One row per edit, the input first: variations (SDEdit) at --strengths, the box --region redrawn
(RePaint; every other pixel stays the input's), and class transfer to --to-class. Uses the
bundled demo model unless --model is given; sampling options not given are the model's.
"""

import argparse

import numpy as np

from ldm_sprites import api
from ldm_sprites.data.images import load_rgba
from ldm_sprites.image_files import make_grid, save_png


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sprite")
    ap.add_argument("--model", default=None)
    ap.add_argument("--strengths", default="0.3,0.6,0.9")
    ap.add_argument("--region", default=None, help="x,y,w,h (default: the top half)")
    ap.add_argument("--to-class", default=None, help="default: the model's first class")
    ap.add_argument("--num", type=int, default=4)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="edits.png")
    args = ap.parse_args()
    pipe = api.load_pipeline(args.model)
    src = load_rgba(args.sprite)
    h, w = src.shape[:2]
    region = args.region or f"0,0,{w},{h // 2}"
    target = args.to_class or (pipe.classes[0] if pipe.classes else None)
    common = dict(num=args.num, seed=args.seed, steps=args.steps)
    rows = []
    for s in (float(v) for v in args.strengths.split(",")):
        rows.append(api.vary(pipe, args.sprite, strength=s, **common)[0])
    rows.append(api.inpaint(pipe, args.sprite, region=region, **common)[0])
    if target:
        rows.append(api.vary(pipe, args.sprite, strength=0.6, classes=[target], **common)[0])
    fitted = api.vary(pipe, args.sprite, strength=0)[0]  # strength 0: the input as the model sees it
    cells = np.concatenate([np.concatenate([fitted, r]) for r in rows])
    save_png(args.out, make_grid(cells, nrow=args.num + 1, scale=4))
    print(f"{args.out}: {len(rows)} rows of {args.num} edits of {args.sprite}")


if __name__ == "__main__":
    main()
