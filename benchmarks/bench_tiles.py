"""Seamless tiles (issue 31): how well a model's tiles wrap, how good they are, what it costs.

    python -m benchmarks.bench_tiles --data ../shared/data/dcss-dngn --model dcss-tiles \
        [--ae DECODER] [--num 1432] [--time-num 64] [--features efficientnet] \
        [--out bench-tiles]

Three rows, each with the issue's targets beside it:

* the real tiles of ``--data``: their own seam score (``data.seam``; real dungeon tiles
  are drawn to repeat, so theirs is what "seamless" looks like), per class in the JSON;
* ordinary sampling of ``--model``: seam score (target >= 2: an ordinary sprite does not wrap),
  FD against the data with its real-vs-real floor (``ldmsprites eval``'s code, the data's class
  proportions), seconds per tile;
* ``--tileable`` sampling: seam score (target <= 1.1), FD / floor (target <= 2), seconds per tile
  over ordinary sampling's (target <= 1.3);
* what the tiles' phase is worth: FD of one random half of the real tiles, each rolled by a
  random offset, against the other half, over the floor (the same halves unrolled). A perfect
  model of the tiles at a random phase (what noise rolling and circular-shift training give)
  scores this, not 1.

Seam scores are given along x, y and both; tileable sampling is scored on the finished tiles a
user gets: one shared palette per sheet of ``--sheet-size`` variants of one class, as
``generate --tileable --class floor --num 8`` makes them (``--sheet-size 0``: one palette for
all ``--num`` tiles of every class; ``--no-shared-palette``: each tile in its own colours;
``--max-colors``: the shared palette's size, default 32). Timing samples
``--time-num`` tiles of each mode, finished, after one warm-up batch, on one thread unless
``OMP_NUM_THREADS`` says otherwise. Writes ``tiles.json``, ``tiles.md`` and ``tiles.png`` (real
tiles, ordinary and tileable samples, each 3x3) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np


def seams(tiles: np.ndarray) -> dict:
    from ldm_sprites.data.seam import seam_summary

    return {axes: seam_summary(tiles, axes) for axes in ("xy", "x", "y")}


def per_class_seams(tiles: np.ndarray, names: list[str]) -> dict:
    from ldm_sprites.data.seam import seam_summary

    return {c: seam_summary(tiles[[i for i, n in enumerate(names) if n == c]])["seam"]
            for c in sorted(set(names))}


def random_phase_fd(real: np.ndarray, extractor, seed: int) -> dict:
    """FD(half A rolled by random offsets, half B) and FD(A, B), the halves of ``real_split_fd``."""
    import torch

    from ldm_sprites.data.wrap import circular_shift
    from ldm_sprites.evaluation.metrics import frechet_distance
    from ldm_sprites.evaluation.run import real_halves

    ia, ib = real_halves(len(real), seed)
    a, b = real[ia], real[ib]
    rolled = circular_shift(torch.from_numpy(a).permute(0, 3, 1, 2),
                            torch.Generator().manual_seed(seed)).permute(0, 2, 3, 1).numpy()
    fa, fb, fr = extractor(a), extractor(b), extractor(np.ascontiguousarray(rolled))
    floor, shifted = frechet_distance(fa, fb), frechet_distance(fr, fb)
    return {"fd": round(shifted, 3), "fd_floor": round(floor, 3),
            "fd_over_floor": round(shifted / floor, 3)}


def seconds_per_tile(pipe, labels: list[int], tileable: str | None, batch_size: int,
                     finish) -> float:
    """Wall seconds per tile over ``labels``, finished with ``finish`` (after a warm-up batch
    of 4)."""
    pipe.sprites(labels[:4], seed=1, tileable=tileable, finish=finish)
    t0 = time.perf_counter()
    pipe.sprites(labels, seed=2, tileable=tileable, finish=finish, batch_size=batch_size)
    return (time.perf_counter() - t0) / len(labels)


def preview_sheet(groups: list[tuple[str, np.ndarray]], per: int = 6):
    """One row per group: ``per`` tiles, each repeated 3x3, at 2x, on mid-grey."""
    from ldm_sprites.export.tiles import tile_preview
    from ldm_sprites.visual import layout

    rows = []
    for name, tiles in groups:
        previews = np.stack([tile_preview(t) for t in tiles[:per]])
        rows.append(layout.titled(layout.panel(previews, nrow=len(previews), scale=2), name))
    return layout.vstack(rows)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the real tiles (e.g. ../shared/data/dcss-dngn)")
    ap.add_argument("--model", required=True,
                    help="model directory, training run or bundled name (dcss-tiles)")
    ap.add_argument("--ae", default=None, help="decode with this autoencoder (e.g. a palette decoder)")
    ap.add_argument("--label-column", default=None, help="default: the model's")
    ap.add_argument("--num", type=int, default=0, help="tiles per mode for FD (0: the data's size)")
    ap.add_argument("--time-num", type=int, default=64, help="tiles per mode for the timing")
    ap.add_argument("--features", default="efficientnet", choices=["efficientnet", "random-cnn"])
    ap.add_argument("--bootstrap", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--no-shared-palette", dest="shared_palette", action="store_false",
                    help="finish tileable tiles each in its own colours (generate's "
                         "--no-shared-palette) instead of one palette per batch")
    ap.add_argument("--sheet-size", type=int, default=8,
                    help="tiles of one class that share a palette (0: all of them)")
    ap.add_argument("--max-colors", type=int, default=None,
                    help="colours of a shared palette (default: finishing's, 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-tiles")
    args = ap.parse_args(argv)

    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.run import evaluate, plan_labels
    from ldm_sprites.finish import FinishOptions
    from ldm_sprites.fsutil import atomic_write_json, atomic_write_text, ensure_dir
    from ldm_sprites.runtime import model_path

    out = ensure_dir(args.out)
    pipe = DiffusionPipeline.from_pretrained(model_path(args.model), ae_path=args.ae)
    spec = DataSpec.from_config(asdict(pipe.config.data), label_column=args.label_column)
    data = load_sprite_data(args.data, spec)
    real = data.images.permute(0, 2, 3, 1).contiguous().numpy()
    real_names = [data.classes[i] for i in data.labels.tolist()] if data.classes else \
        ["tile"] * len(real)
    num = args.num or len(real)
    extractor = get_extractor(args.features, "cpu")
    result = {"model": args.model, "data": args.data, "num": num, "features": args.features,
              "real": {"n": len(real), "seam": seams(real),
                       "per_class": per_class_seams(real, real_names)},
              "real_random_phase": random_phase_fd(real, extractor, args.seed)}
    samples = {}
    labels = plan_labels(pipe.classes, data, num, "data")
    for mode, axes in (("plain", None), ("tileable", "xy")):
        opts = pipe.sampling_options(tileable=axes)
        shared = bool(axes) and args.shared_palette
        finish = FinishOptions(shared_palette=shared,
                               max_colors=args.max_colors if shared else None)
        kw = {"options": opts, "batch_size": args.batch_size, "finish": finish}
        res, fake, _, _ = evaluate(pipe, data, extractor, num=num, balance="data", sample_kw=kw,
                                   seed=args.seed, percentile=1.0, kid_subsets=10,
                                   kid_subset_size=min(num, len(real)),
                                   bootstrap=args.bootstrap, sheet_size=args.sheet_size)
        names = [pipe.classes[c] for c in labels] if pipe.classes else ["tile"] * len(fake)
        floor = res["fd_real_halves"]
        timing_labels = [labels[i % len(labels)] for i in range(args.time_num)]
        result.setdefault("real_cleanliness", res["cleanliness"]["real"])
        result[mode] = {"seam": seams(fake), "per_class": per_class_seams(fake, names),
                        "cleanliness": res["cleanliness"]["generated"],
                        "fd": res["fd"], "fd_ci95": res["fd_ci95"], "fd_floor": floor,
                        "fd_over_floor": round(res["fd"] / floor, 3) if floor else None,
                        "seconds_per_tile": round(seconds_per_tile(
                            pipe, timing_labels, axes, args.batch_size, finish), 5),
                        "sampling": opts.as_dict(), "finish": finish.to_json(),
                        "sheet_size": args.sheet_size if shared else None}
        samples[mode] = fake
    plain, tiles = result["plain"], result["tileable"]
    tiles["time_over_plain"] = round(tiles["seconds_per_tile"] / plain["seconds_per_tile"], 3)
    result["targets"] = {
        "tileable seam <= 1.1": tiles["seam"]["xy"]["seam"] <= 1.1,
        "plain seam >= 2": plain["seam"]["xy"]["seam"] >= 2,
        "tileable FD <= 2x floor": (tiles["fd_over_floor"] or 99) <= 2,
        "tileable time <= 1.3x plain": tiles["time_over_plain"] <= 1.3}
    atomic_write_json(out / "tiles.json", result)
    def clean(c):   # medians per tile: colours a person counts, lone pixels
        return f"{c['visible_colors']['median']:g} | {100 * c['isolated']['median']:.1f} %"

    rows = ["| | seam xy | seam x | seam y | FD (floor) | FD / floor | s per tile | colours | "
            "isolated |",
            "|---|---|---|---|---|---|---|---|---|",
            "| real tiles ({}) | {} | {} | {} | | | | {} |".format(
                len(real), *(result["real"]["seam"][a]["seam"] for a in ("xy", "x", "y")),
                clean(result["real_cleanliness"])),
            "| real tiles at a random phase (half vs half) | | | | {:.3g} ({:.3g}) | {} | | | |"
            .format(*(result["real_random_phase"][k] for k in ("fd", "fd_floor",
                                                                "fd_over_floor")))]
    for mode in ("plain", "tileable"):
        r = result[mode]
        rows.append(f"| {mode} | {r['seam']['xy']['seam']} | {r['seam']['x']['seam']} | "
                    f"{r['seam']['y']['seam']} | {r['fd']:.3g} ({r['fd_floor'] or 0:.3g}) | "
                    f"{r['fd_over_floor']} | {r['seconds_per_tile']:.4f} | "
                    f"{clean(r['cleanliness'])} |")
    rows.append("")
    rows += [f"- {k}: {'yes' if ok else 'NO'}" for k, ok in result["targets"].items()]
    text = "\n".join(rows) + "\n"
    atomic_write_text(out / "tiles.md", text)
    from ldm_sprites.image_files import save_png

    save_png(out / "tiles.png", preview_sheet([("real", real), ("plain", samples["plain"]),
                                               ("tileable", samples["tileable"])]))
    print(text + f"-> {out}/tiles.json, tiles.md, tiles.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
