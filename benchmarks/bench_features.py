"""Do eval's feature extractors rank sprite sets like eyes do? (issue 18)

    python -m benchmarks.bench_features [--data /path/to/sprites --size 64] [--demo-per-class 50]
                                         [--extractors efficientnet,random-cnn] [--bootstrap 20]

From real sprites (the procedural demo set always; a folder given by --data too) it builds a
reference half and, from the other half, sets whose order is known — held-out sprites, the same
with Gaussian colour noise, blurred, random colours inside the real silhouettes ("blob noise"),
pure noise — and prints, per extractor, the FD of each against the reference with a bootstrap
95 % interval, which of the expected orderings (held-out < noisy < pure noise, held-out <
blurred) it breaks, and whether the noisy sprites' interval clears the held-out one (a feature
space in which they overlap cannot tell noisy sprites from clean ones). Results and the exact
command are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, table
from ldm_sprites.demo_art import make_demo_sprites
from ldm_sprites.evaluation.features import get_extractor
from ldm_sprites.evaluation.metrics import bootstrap_fd
from ldm_sprites.evaluation.sanity import NOISE_SIGMA, set_features, violations


def load_folder(path: str, size: int):
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data

    with tempfile.TemporaryDirectory() as cache:
        data = load_sprite_data(path, DataSpec(size=size), cache_dir=cache)
    return data.images.permute(0, 2, 3, 1).contiguous().numpy()


def rows_for(name: str, real, extractors: list[str], resamples: int, seed: int) -> list[dict]:
    rows = []
    for ex_name in extractors:
        ex = get_extractor(ex_name)
        t0 = time.perf_counter()
        f_ref, feats = set_features(ex, real, seed)
        secs = time.perf_counter() - t0
        res = {k: bootstrap_fd(f_ref, f, resamples=resamples, seed=seed) for k, f in feats.items()}
        bad = violations({k: r["fd"] for k, r in res.items()})
        row = {"data": f"{name} ({len(f_ref)} vs {len(f_ref)})", "features": ex.name}
        for k, r in res.items():
            ci = r["ci95"]
            row[k] = f"{r['fd']:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")
        row["blob noise > noisy"] = "yes" if res["blob noise"]["fd"] > res["noisy"]["fd"] else "NO"
        sep = res["noisy"]["ci95"] and res["noisy"]["ci95"][0] > res["held-out"]["ci95"][1]
        row["noisy CI above held-out CI"] = "yes" if sep else "no"
        row["broken orderings"] = ", ".join(bad) or "none"
        row["feature s"] = f"{secs:.0f}"
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="A sprite folder (e.g. pokemon-sprites).")
    ap.add_argument("--size", type=int, default=64, help="Sprite size for --data.")
    ap.add_argument("--demo-per-class", type=int, default=50)
    ap.add_argument("--extractors", default="efficientnet,random-cnn")
    ap.add_argument("--bootstrap", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    extractors = args.extractors.split(",")
    print(f"{machine()}; noisy = Gaussian colour noise, sigma {NOISE_SIGMA:g} levels")
    sets = [("demo 32 px", make_demo_sprites(args.demo_per_class, size=32, seed=args.seed)[0])]
    if args.data and Path(args.data).exists():
        sets.append((f"{Path(args.data).name} {args.size} px", load_folder(args.data, args.size)))
    elif args.data:
        print(f"--data {args.data} does not exist; demo set only")
    rows = []
    for name, real in sets:
        rows += rows_for(name, real, extractors, args.bootstrap, args.seed)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
