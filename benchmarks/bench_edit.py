"""Benchmark editing (issue 15) on the bundled demo model and the demo set it was trained on.

    python benchmarks/bench_edit.py --data data/demo [--per-class 20] [--json out.json]

1. Strength 1 vs plain generation: FD (EfficientNet-Lite0 features, what ``eval`` uses) between
   generation at seed 0 and seed 1 (the noise of two generation runs), and between generation
   at seed 0 and ``vary --strength 1`` of demo sprites at seed 2; same classes, same counts.
2. Inpainting seam: a 12x12 box over each of ``--per-class`` demo sprites per class is redrawn
   (its own class, model defaults, ``--jumps`` 0 and 2); the share of isolated pixels
   (``evaluation.cleanliness.isolated_mask``) among visible *seam* pixels (within one pixel of
   the box edge, on either side) vs the rest of the sprite, plus the input's own rates; unmasked
   pixels checked bit-identical; distinct outputs for 4 seeds.
3. Class transfer: ``--class fire --strength 0.6`` on 60 non-fire demo sprites (12 per class);
   share of outputs where a fire hue (the demo fire sprites' hues: 340°-36°) covers more than
   half the saturated visible pixels, and the mean alpha IoU with the input (alpha >= 128).
   At the model's defaults (``sample.transfer_guidance``, 5) and at generation's guidance 3.
4. Speed: sampler steps and ms per sprite (best of 3 runs of ``--speed-num`` sprites, model
   defaults: DPM-Solver++ 25 steps) for generation, vary at strengths 1, 0.5, 0.25, and inpaint
   with jumps 0 and 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, table, timed  # noqa: E402
from ldm_sprites import api  # noqa: E402
from ldm_sprites.data.images import load_rgba  # noqa: E402
from ldm_sprites.evaluation.cleanliness import isolated_mask  # noqa: E402

FIRE_HUES = (340.0, 36.0)   # wraps around 0: where the demo set's fire sprites' hues lie


def demo_files(data: Path) -> dict[str, list[Path]]:
    by_class: dict[str, list[Path]] = {}
    with open(data / "metadata.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            by_class.setdefault(row["type"], []).append(data / row["file_name"])
    return by_class


def spread(by_class: dict[str, list[Path]], per_class: int, seed: int) -> dict[str, list[Path]]:
    rng = np.random.default_rng(seed)
    return {c: [fs[i] for i in sorted(rng.choice(len(fs), per_class, replace=False))]
            for c, fs in sorted(by_class.items())}


def hues(rgba: np.ndarray) -> np.ndarray:
    """Hue in degrees of the visible (alpha >= 128), saturated (max - min > 0.15) pixels."""
    rgb = rgba[..., :3][rgba[..., 3] >= 128].astype(np.float64) / 255
    mx, mn = rgb.max(1), rgb.min(1)
    d = mx - mn
    rgb, mx, d = rgb[d > 0.15], mx[d > 0.15], d[d > 0.15]
    r, g, b = rgb.T
    h = np.where(mx == r, ((g - b) / d) % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4))
    return h * 60


def fire_dominated(rgba: np.ndarray) -> bool:
    h = hues(rgba)
    return len(h) > 0 and float(((h >= FIRE_HUES[0]) | (h < FIRE_HUES[1])).mean()) > 0.5


def alpha_iou(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a[..., 3] >= 128, b[..., 3] >= 128
    return float((x & y).sum() / max(1, (x | y).sum()))


def fd_part(pipe, chosen) -> dict:
    from ldm_sprites.evaluation.features import get_extractor
    from ldm_sprites.evaluation.metrics import bootstrap_fd

    ext = get_extractor("efficientnet")
    classes = sorted(chosen)
    n = len(chosen[classes[0]])
    gen = {s: np.concatenate([api.generate(pipe, classes=[c], num=n, seed=s)[0] for c in classes])
           for s in (0, 1)}
    var = np.concatenate([api.vary(pipe, chosen[c], strength=1.0, num=1, classes=[c], seed=2)[0]
                          for c in classes])
    f0, f1, fv = ext(gen[0]), ext(gen[1]), ext(var)
    real = ext(np.stack([load_rgba(f) for c in classes for f in chosen[c]]))
    return {"n": len(var),
            "gen_seed0_vs_gen_seed1": bootstrap_fd(f0, f1, resamples=50),
            "gen_seed0_vs_vary_strength1": bootstrap_fd(f0, fv, resamples=50),
            "gen_seed0_vs_data": bootstrap_fd(f0, real, resamples=0)["fd"],
            "vary_strength1_vs_data": bootstrap_fd(fv, real, resamples=0)["fd"]}


def box_for(rgba: np.ndarray, rng, size: int = 12) -> str:
    """A size x size box whose centre is a visible pixel of the sprite."""
    ys, xs = np.nonzero(rgba[..., 3] >= 128)
    i = rng.integers(len(ys))
    h, w = rgba.shape[:2]
    x = int(np.clip(xs[i] - size // 2, 0, w - size))
    y = int(np.clip(ys[i] - size // 2, 0, h - size))
    return f"{x},{y},{size},{size}"


def seam_rates(sprites, inputs, redo) -> dict:
    """Isolated-pixel share among visible seam pixels and the rest, summed over the set."""
    iso_seam = vis_seam = iso_rest = vis_rest = 0
    for s, m in zip(sprites, redo):
        pad = np.pad(m, 1, mode="edge")
        edge = np.zeros_like(m)
        for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
            edge |= pad[dy:dy + m.shape[0], dx:dx + m.shape[1]] != m
        iso, vis = isolated_mask(s), s[..., 3] > 0
        iso_seam += int((iso & edge).sum())
        vis_seam += int((vis & edge).sum())
        iso_rest += int((iso & ~edge).sum())
        vis_rest += int((vis & ~edge).sum())
    return {"seam_isolated": iso_seam / max(1, vis_seam), "rest_isolated": iso_rest / max(1, vis_rest),
            "seam_pixels": vis_seam}


def inpaint_part(pipe, chosen, jumps_list=(0, 2)) -> dict:
    from ldm_sprites.diffusion.edit_inputs import parse_region

    rng = np.random.default_rng(0)
    jobs = []
    for c in sorted(chosen):
        for f in chosen[c]:
            src = load_rgba(f)
            region = box_for(src, rng)
            jobs.append((c, f, src, region, parse_region(region, src.shape[1], src.shape[0])))
    out = {}
    inputs = np.stack([j[2] for j in jobs])
    redo = np.stack([j[4] for j in jobs])
    out["input"] = seam_rates(inputs, inputs, redo)
    for jumps in jumps_list:
        sprites = np.concatenate([api.inpaint(pipe, f, region=r, classes=[c], num=1, seed=0,
                                              jumps=jumps)[0] for c, f, _, r, _ in jobs])
        same = all(np.array_equal(s[~m], i[~m]) for s, i, m in zip(sprites, inputs, redo))
        out[f"jumps {jumps}"] = {**seam_rates(sprites, inputs, redo), "unmasked_identical": same}
    c, f, _, r, m = jobs[0]
    four = np.stack([api.inpaint(pipe, f, region=r, classes=[c], num=1, seed=s)[0][0]
                     for s in range(4)])
    out["distinct_of_4_seeds"] = len({x[m].tobytes() for x in four})
    out["n"] = len(jobs)
    return out


def transfer_part(pipe, by_class, per_class: int = 12) -> dict:
    chosen = spread({c: fs for c, fs in by_class.items() if c != "fire"}, per_class, seed=1)
    files = [f for c in sorted(chosen) for f in chosen[c]]
    inputs = np.stack([load_rgba(f) for f in files])
    out = {"n": len(files)}
    for name, kw in (("strength 0.6 (model defaults: transfer guidance)", {"strength": 0.6}),
                     ("strength 0.6, guidance 3 (generation's)", {"strength": 0.6,
                                                                  "guidance": 3.0})):
        sprites, _ = api.vary(pipe, files, num=1, classes=["fire"], seed=0, **kw)
        out[name] = {"fire_dominant": float(np.mean([fire_dominated(s) for s in sprites])),
                     "alpha_iou_mean": float(np.mean([alpha_iou(s, i) for s, i in
                                                      zip(sprites, inputs)])),
                     "alpha_iou_min": float(min(alpha_iou(s, i) for s, i in zip(sprites, inputs)))}
    out["inputs_fire_dominant"] = float(np.mean([fire_dominated(i) for i in inputs]))
    return out


def speed_part(pipe, by_class, n: int = 8) -> list[dict]:
    files = [fs[0] for _, fs in sorted(by_class.items())]
    files = (files * n)[:n]
    from ldm_sprites.diffusion.editing import default_jump_length, executed_timesteps, start_index

    ts = pipe.sampling_options().timesteps(pipe.schedule)
    steps = {"generate": len(ts)}
    for s in (1.0, 0.5, 0.25):
        steps[f"vary --strength {s:g}"] = len(ts) - start_index(ts, s)
    for j in (0, 2):
        steps[f"inpaint --jumps {j}"] = len(executed_timesteps(ts, j, default_jump_length(len(ts))))
    rows = []
    cases = [("generate", lambda: api.generate(pipe, num=n, seed=0))]
    for s in (1.0, 0.5, 0.25):
        cases.append((f"vary --strength {s:g}",
                      lambda s=s: api.vary(pipe, files, strength=s, num=1, classes=["fire"])))
    for j in (0, 2):
        cases.append((f"inpaint --jumps {j}",
                      lambda j=j: api.inpaint(pipe, files[0], region="10,10,12,12", num=n,
                                              jumps=j)))
    for name, fn in cases:
        sec = timed(fn, repeat=3, warmup=0)
        rows.append({"job": name, "sampler steps": steps[name],
                     "ms per sprite": round(1000 * sec / n, 1)})
    base = rows[0]["ms per sprite"]
    for r in rows:
        r["vs generate"] = f"{r['ms per sprite'] / base:.2f}x"
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="the demo set (ldmsprites demo-data)")
    ap.add_argument("--per-class", type=int, default=20, help="sprites per class for FD")
    ap.add_argument("--seam-per-class", type=int, default=10)
    ap.add_argument("--speed-num", type=int, default=8)
    ap.add_argument("--json", default=None)
    ap.add_argument("--model", default=None, help="model directory (default: the bundled one)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: fd,seam,transfer,speed")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    pipe = api.load_pipeline(args.model)
    by_class = demo_files(args.data)
    result = {"machine": machine()}
    t0 = time.perf_counter()
    if "fd" not in skip:
        result["fd"] = fd_part(pipe, spread(by_class, args.per_class, seed=0))
        print(json.dumps(result["fd"], indent=1), flush=True)
        save(args.json, result)
    if "seam" not in skip:
        result["seam"] = inpaint_part(pipe, spread(by_class, args.seam_per_class, seed=3))
        print(json.dumps(result["seam"], indent=1), flush=True)
        save(args.json, result)
    if "transfer" not in skip:
        result["transfer"] = transfer_part(pipe, by_class)
        print(json.dumps(result["transfer"], indent=1), flush=True)
        save(args.json, result)
    if "speed" not in skip:
        result["speed"] = speed_part(pipe, by_class, args.speed_num)
        print(table(result["speed"]), flush=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"machine: {result['machine']}; {result['seconds']} s")
    save(args.json, result)


def save(path, result) -> None:
    """Results so far (each part is written as it finishes: a long run keeps what it measured)."""
    if path:
        Path(path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
