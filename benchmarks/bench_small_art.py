"""Small real art (issue 29): how close a model's sprites come to the tiles it learned from.

    python -m benchmarks.bench_small_art --data ../shared/data/dcss-items --model dcss-items \
        [--model pixel=runs/items-px] [--model pal=runs/items-dit --ae pal=runs/items-aep] \
        [--num 815] [--out bench-small-art]

For each model: ``ldmsprites eval`` with ``--num`` = the data size in the data's class
proportions (FD against the data with the real-vs-real floor, copies and variants of training
tiles, the class of each sample's nearest real sprite, cleanliness), the same with the raw sampler
output, and a picture of every class — real tiles beside generated ones at 1:1 and at 4× — to
look at. Prints one markdown row per model with the issue's targets side by side:

* FD / floor;
* nearest real sprite of the class asked for (EfficientNet features), and the data's own share;
* isolated pixels and soft alpha (shares of all visible pixels of the set) of the
  finished sprites relative to the data's;
* copies (1st percentile of train-train distances) and variants (25th: a recolour of a tile).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ldm_sprites.visual import layout


def pixel_shares(sprites: np.ndarray) -> dict:
    """Isolated and soft-alpha shares over *all* visible pixels of a set (a set's numbers, not a
    median of per-sprite shares: most tiles have no shadow, so a median soft share is 0)."""
    from ldm_sprites.finish.speckle import isolated_mask

    a = sprites[..., 3]
    visible = int((a > 0).sum())
    soft = int(((a > 0) & (a < 255)).sum())
    iso = sum(int(isolated_mask(s).sum()) for s in sprites)
    return {"isolated": iso / max(visible, 1), "soft_alpha": soft / max(visible, 1)}


def class_sheet(real: np.ndarray, real_names: list[str], fake: np.ndarray, fake_names: list[str],
                per_class: int = 6):
    """One row per class: ``per_class`` real tiles | ``per_class`` generated ones, at 1:1 and at
    4× (the 1:1 strip above the 4× one), on a mid-grey that shows shadows and white parts."""
    rows, labels = [], []
    for name in sorted(set(real_names)):
        r = real[[i for i, n in enumerate(real_names) if n == name][:per_class]]
        f = fake[[i for i, n in enumerate(fake_names) if n == name][:per_class]]
        cells = []
        for group in (r, f):
            if len(group) == 0:
                cells.append(layout.text_image("(none)"))
                continue
            one = layout.panel(group, nrow=len(group), scale=1)
            four = layout.panel(group, nrow=len(group), scale=4)
            cells.append(layout.vstack([one, four]))
        rows.append(cells)
        labels.append(name)
    return layout.table(rows, labels, ["real (1:1, 4x)", "generated (1:1, 4x)"],
                        title="real tiles beside generated ones")


def run_eval(model: str, data: str, num: int, out: Path, finish: str, ae: str | None) -> dict:
    from click.testing import CliRunner

    from ldm_sprites.cli import cli

    samples = out.with_suffix("")
    args = ["eval", "--model", model, "--data", data, "--num", str(num), "--out", str(out),
            "--samples", str(samples), "--finish", finish] + (["--ae", ae] if ae else [])
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    if res.exit_code:
        raise SystemExit(res.output)
    print(res.output.strip().splitlines()[-2])
    return json.loads(out.read_text())


def load_folder(folder: Path) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    files = sorted(folder.glob("*.png"))
    return (np.stack([np.array(Image.open(f).convert("RGBA")) for f in files]),
            [f.stem.split("-", 1)[1] for f in files])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", action="append", required=True,
                    help="NAME=DIR, or a bundled name / directory (repeatable)")
    ap.add_argument("--ae", action="append", default=[],
                    help="NAME=AE: decode model NAME with this autoencoder (e.g. a palette "
                         "decoder of its latent space; repeatable)")
    ap.add_argument("--num", type=int, default=None, help="default: the data size")
    ap.add_argument("--out", default="bench-small-art")
    args = ap.parse_args(argv)

    from ldm_sprites.data.dataset import load_sprite_data
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.runtime import model_path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    decoders = dict(a.split("=", 1) for a in args.ae)
    rows = []
    for spec in args.model:
        name, _, path = spec.rpartition("=")
        name = name or Path(path).name
        pipe = DiffusionPipeline.from_pretrained(model_path(path))
        data = load_sprite_data(args.data, pipe.data_spec)
        real = data.images.permute(0, 2, 3, 1).numpy()
        real_names = [data.classes[int(i)] for i in data.labels]
        num = args.num or len(real)
        res = {f: run_eval(path, args.data, num, out / f"{name}-{f}.json", f, decoders.get(name))
               for f in ("auto", "none")}
        fake, fake_names = load_folder(out / f"{name}-auto")
        sheet = class_sheet(real, real_names, fake, fake_names)
        sheet.save(out / f"{name}-classes.png")
        ref, got = pixel_shares(real), pixel_shares(fake)
        raw = pixel_shares(load_folder(out / f"{name}-none")[0])
        r = res["auto"]
        mem = r["memorization"]
        rows.append({
            "model": name, "samples": r["num_generated"],
            "FD / floor": f"{r['fd']:.1f} / {r['fd_real_halves']:.1f} = "
                          f"{r['fd'] / r['fd_real_halves']:.2f}x",
            "FD raw": f"{res['none']['fd']:.1f}",
            "nearest real has the class": f"{100 * r['feature_nn_same_class_share']:.0f} % "
                                          f"(data {100 * r['real_feature_nn_same_class_share']:.0f} %)",
            "isolated vs data": f"{100 * got['isolated']:.1f} / {100 * ref['isolated']:.1f} % "
                                f"(raw {100 * raw['isolated']:.1f})",
            "soft alpha vs data": f"{100 * got['soft_alpha']:.1f} / {100 * ref['soft_alpha']:.1f} % "
                                  f"(raw {100 * raw['soft_alpha']:.1f})",
            "copies / variants": f"{100 * mem['copy_share']:.1f} / {100 * mem['variant_share']:.1f} %",
        })
    keys = list(rows[0])
    text = "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
                     + ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows])
    print(text)
    (out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
