"""A small dungeon map from generated tiles: walls round a room, a floor of mixed variants, a pool.

    python examples/tile_map.py --model dcss-tiles --size 16x10 --variants 6 --out map.png

A class such as "floor" holds many styles (grass, stone, dirt, ...), so a map does not mix
``--num 6`` fresh samples: it mixes variants of one. Per class, one tile is generated with
``tileable='xy'`` and varied (SDEdit at ``--strength``, as ``vary --tileable``) into
``--variants`` tiles of its style that wrap in both directions and share one palette, so any mix
of them joins without a seam. The map picks a variant per cell at random; the borders between
classes (wall to floor, floor to water) are edges, as in the game itself.
"""

import argparse

import numpy as np
from PIL import Image

from ldm_sprites import api
from ldm_sprites.finish import FinishOptions
from ldm_sprites.image_files import save_png

WALL, FLOOR, WATER = "wall", "floor", "water"


def layout(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """(height, width) array of class names: a wall border, floor inside, an oval pool."""
    grid = np.full((height, width), FLOOR, dtype=object)
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = WALL
    cy, cx = rng.uniform(0.4, 0.6) * height, rng.uniform(0.4, 0.6) * width
    ry, rx = max(1.0, height / 5), max(1.0, width / 5)
    yy, xx = np.mgrid[:height, :width]
    pool = ((yy + 0.5 - cy) / ry) ** 2 + ((xx + 0.5 - cx) / rx) ** 2 <= 1
    grid[pool & (grid == FLOOR)] = WATER
    return grid


def render(grid: np.ndarray, tiles: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The map as one RGBA image: each cell a random variant of its class."""
    h, w = next(iter(tiles.values())).shape[1:3]
    out = np.zeros((grid.shape[0] * h, grid.shape[1] * w, 4), np.uint8)
    for (y, x), name in np.ndenumerate(grid):
        variants = tiles[name]
        out[y * h:(y + 1) * h, x * w:(x + 1) * w] = variants[rng.integers(len(variants))]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dcss-tiles")
    ap.add_argument("--size", default="16x10", help="map size in tiles, WIDTHxHEIGHT")
    ap.add_argument("--variants", type=int, default=6, help="variants of each class's tile")
    ap.add_argument("--strength", type=float, default=0.5,
                    help="how far the variants go from their tile (0 = copies, 1 = new tiles)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscale of the PNG")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="map.png")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    pipe = api.load_pipeline(args.model)
    missing = [c for c in (WALL, FLOOR, WATER) if c not in (pipe.classes or [])]
    if missing:
        raise SystemExit(f"error: the model has no class {', '.join(missing)}; this example needs "
                         f"wall, floor and water (the bundled dcss-tiles model has them)")
    tiles, shared = {}, FinishOptions(shared_palette=True)
    for i, name in enumerate((WALL, FLOOR, WATER)):   # per class: one style, one palette
        base, _ = api.generate(pipe, classes=[name], num=1, seed=args.seed + i, tileable="xy",
                               steps=args.steps)
        tiles[name], _ = api.vary(pipe, base[0], strength=args.strength, num=args.variants,
                                  classes=[name], seed=args.seed + i, tileable="xy",
                                  steps=args.steps, finish=shared)
    rng = np.random.default_rng(args.seed)
    image = render(layout(width, height, rng), tiles, rng)
    if args.scale > 1:
        image = image.repeat(args.scale, 0).repeat(args.scale, 1)
    save_png(args.out, Image.fromarray(image))
    print(f"{args.out}: a {width}x{height} map from {args.variants} variants each of "
          f"{WALL}, {FLOOR} and {WATER}")


if __name__ == "__main__":
    main()
