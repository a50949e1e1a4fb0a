"""Benchmark finishing: how clean the bundled model's sprites are before and after, and its cost.

    python benchmarks/bench_finish.py [--num 96] [--seed 0] [--image docs/images/finish-raw-vs-finished.png]

Samples ``--num`` sprites from the bundled demo model, finishes them with the model's palette
(``FinishOptions()`` defaults, what ``generate`` does), and prints the cleanliness statistics
(``ldm_sprites.evaluation.cleanliness``) of the demo set the model was trained on, the raw
output, the finished output and, for comparison, Pillow's median cut to the same per-sprite
colour count; FD and KID against the demo set; then ms per sprite (best of 3) at 32 px and at
64 px, and whether the targets of issue 13 are met. ``--image`` writes raw (top) over finished (bottom), one sprite per class,
at 8x nearest on a grey background. Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from ldm_sprites.evaluation.cleanliness import cleanliness_summary, format_table
from ldm_sprites.finish import FinishOptions, finish_sprites, from_model_dir
from ldm_sprites.finish.snap import hard_alpha


def best_ms_per_sprite(fn, sprites: np.ndarray, repeat: int = 3) -> float:
    """Best-of-``repeat`` milliseconds per sprite (best-of filters out other load on the CPU)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(sprites)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best / len(sprites)


def pillow_median_cut(sprites: np.ndarray, colors: int) -> np.ndarray:
    """The library baseline: hard alpha, then Pillow's median cut to ``colors`` per sprite."""
    out = []
    for s in sprites:
        h = hard_alpha(s, 128)
        q = Image.fromarray(h[..., :3]).quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                                                 dither=Image.Dither.NONE)
        h[..., :3] = np.array(q.convert("RGB"))
        h[h[..., 3] == 0] = 0
        out.append(h)
    return np.stack(out)


def as_64px(sprites: np.ndarray, seed: int = 0) -> np.ndarray:
    """64x64 stand-ins for raw output at that size: 2x nearest plus N(0, 8) colour jitter per
    pixel, so every pixel has its own colour as in a sampler's output (alpha kept soft)."""
    big = sprites.repeat(2, 1).repeat(2, 2).astype(np.float32)
    big[..., :3] += np.random.default_rng(seed).normal(0, 8, big[..., :3].shape)
    return np.clip(big, 0, 255).astype(np.uint8)


def fd_kid(sets: dict[str, np.ndarray], data: np.ndarray) -> dict[str, dict[str, tuple]]:
    """FD and KID of each set against the demo set, with the eval command's default features
    (EfficientNet-Lite0) and the download-free random-CNN features."""
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.metrics import frechet_distance, kid

    out = {}
    for name in ("efficientnet", "random-cnn"):
        extractor = get_extractor(name)
        ref = extractor(data)
        out[extractor.name] = {}
        for label, sprites in sets.items():
            f = extractor(sprites)
            out[extractor.name][label] = (frechet_distance(f, ref),
                                          kid(f, ref, subsets=50, subset_size=len(f))[0])
    return out


def side_by_side(raw: np.ndarray, finished: np.ndarray, names: list[str], path: str,
                 scale: int = 8) -> None:
    """Raw over finished, the first sprite of each class, ``scale``x nearest on grey."""
    first = {}
    for i, n in enumerate(names):
        first.setdefault(n, i)
    pick = [first[n] for n in sorted(first)]
    rows = [np.concatenate([np.pad(s, ((2, 2), (2, 2), (0, 0))) for s in x[pick]], 1)
            for x in (raw, finished)]
    grid = np.concatenate(rows, 0).astype(np.float32)
    a = grid[..., 3:] / 255.0
    rgb = (grid[..., :3] * a + 216.0 * (1 - a)).round().astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--image", default=None, help="write the raw-vs-finished picture here")
    args = ap.parse_args()

    from ldm_sprites import api
    from ldm_sprites.demo_art import make_demo_sprites
    from ldm_sprites.runtime import bundled_model_dir

    data, _ = make_demo_sprites(250, 32, 0)          # what the bundled model was trained on
    pipe = api.load_pipeline()
    t0 = time.perf_counter()
    raw, names = api.generate(pipe, num=args.num, seed=args.seed, finish="none")  # sampler pixels
    sample_s = time.perf_counter() - t0
    palette = from_model_dir(bundled_model_dir())
    options = FinishOptions()
    finished = finish_sprites(raw, palette, options)
    baseline = pillow_median_cut(raw, palette.colors_per_sprite)

    columns = {"demo set": cleanliness_summary(data), "raw": cleanliness_summary(raw),
               "finished": cleanliness_summary(finished),
               f"Pillow median cut {palette.colors_per_sprite}": cleanliness_summary(baseline)}
    print(f"bundled model, {args.num} sprites, seed {args.seed} (sampling took {sample_s:.1f} s); "
          f"palette {len(palette.colors)} colours, {palette.colors_per_sprite} per sprite")
    print("median / 90th percentile per sprite:")
    print(format_table(columns))

    scores = fd_kid({"raw": raw, "finished": finished}, data)
    for features, rows in scores.items():
        print(f"{features} features vs the demo set: " + "; ".join(
            f"{label} FD {fd:.2f}, KID {k:.4f}" for label, (fd, k) in rows.items()))

    big = as_64px(raw)
    ms32 = best_ms_per_sprite(lambda x: finish_sprites(x, palette, options), raw)
    ms64 = best_ms_per_sprite(lambda x: finish_sprites(x, palette, options), big)
    ms_pil = best_ms_per_sprite(lambda x: pillow_median_cut(x, palette.colors_per_sprite), raw)
    print(f"finishing: {ms32:.2f} ms/sprite at 32 px, {ms64:.2f} ms/sprite at 64 px "
          f"(best of 3, batch of {args.num}); Pillow median cut {ms_pil:.2f} ms/sprite at 32 px")

    d, f = columns["demo set"], columns["finished"]
    checks = {
        "soft alpha 0 %": f["soft_alpha"]["p90"] == 0,
        "colours per sprite <= demo p90": f["distinct_colors"]["p90"] <= d["distinct_colors"]["p90"],
        "isolated <= 1.2x demo": f["isolated"]["median"] <= 1.2 * d["isolated"]["median"],
        "<= 5 ms per 64x64 sprite": ms64 <= 5.0,
        "FD/KID no worse than raw": all(r["finished"][i] <= r["raw"][i]
                                        for r in scores.values() for i in (0, 1)),
    }
    for name, ok in checks.items():
        print(f"  {'ok ' if ok else 'MISS'} {name}")
    if args.image:
        side_by_side(raw, finished, names, args.image)
        print(f"wrote {args.image}")


if __name__ == "__main__":
    main()
