"""Benchmark ``ldmsprites export``: speed of a full export and fidelity of the traced SVGs.

    python benchmarks/bench_export.py [--n 64] [--size 32] [--out /tmp/bench-export]

Prints a markdown table (its results are in docs/benchmarks.md). Sprites come from
``ldm_sprites.demo_art.make_demo_sprites``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: find tests/

from ldm_sprites.export import ExportOptions, Sprite, export_sprites  # noqa: E402
from ldm_sprites.export.svg import sprite_svg, trace_sprite  # noqa: E402
from ldm_sprites.export.upscale import nearest  # noqa: E402
from tests.svg_render import RENDERERS, alpha_iou, identical_share, rasterize  # noqa: E402


def bench_sprites(n: int, size: int) -> tuple[list[Sprite], str]:
    from ldm_sprites.demo_art import make_demo_sprites

    images, labels = make_demo_sprites(math.ceil(n / 6), size, 0)
    sprites = [Sprite(f"{lab}-{i:03d}", np.ascontiguousarray(im), lab, i)
               for i, (im, lab) in enumerate(zip(images, labels))]
    return sprites[:n], "demo (make_demo_sprites)"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--upscale", type=int, default=8)
    parser.add_argument("--out", default=None, help="keep the export here (default: a temp dir)")
    args = parser.parse_args()
    sprites, origin = bench_sprites(args.n, args.size)
    out = args.out or tempfile.mkdtemp(prefix="bench-export-")

    options = ExportOptions(upscale=args.upscale, svg=True, stickers=True, sheet=True)
    start = time.perf_counter()
    manifest = export_sprites(sprites, out, options)
    seconds = time.perf_counter() - start

    pixel = {r: [] for r in RENDERERS}
    spline_native, spline_up = [], []
    for s in sprites:
        reference = nearest(s.rgba, args.upscale)
        document = sprite_svg(trace_sprite(s.rgba, "pixel"), args.upscale, "pixel")
        for renderer in RENDERERS:
            pixel[renderer].append(identical_share(rasterize(document, renderer), reference))
        trace = trace_sprite(s.rgba, "spline")
        spline_native.append(alpha_iou(rasterize(sprite_svg(trace, 1, "spline")), s.rgba))
        spline_up.append(alpha_iou(rasterize(sprite_svg(trace, args.upscale, "spline")), reference))

    print(f"Sprites: {len(sprites)} x {args.size}x{args.size} ({origin}); export x{args.upscale}, "
          f"svg + stickers + sheet + gif; {sum(manifest['counts'].values())} files written.\n")
    print("| measure | result | target |")
    print("| --- | --- | --- |")
    print(f"| full export time | {seconds:.2f} s | <= 10 s |")
    for renderer, shares in pixel.items():
        print(f"| pixel SVG vs nearest x{args.upscale}, identical pixels ({renderer}) | "
              f"mean {np.mean(shares):.4%}, min {np.min(shares):.4%} | >= 99% |")
    print(f"| spline SVG alpha IoU at sprite size (resvg) | mean {np.mean(spline_native):.4f}, "
          f"min {np.min(spline_native):.4f} | >= 0.95 |")
    print(f"| spline SVG alpha IoU at x{args.upscale} (resvg) | mean {np.mean(spline_up):.4f}, "
          f"min {np.min(spline_up):.4f} | (informative) |")
    import PIL
    import vtracer  # noqa: F401 - version from metadata below
    from importlib.metadata import version

    print(f"\nMachine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}, Python {platform.python_version()}, numpy {np.__version__}, "
          f"Pillow {PIL.__version__}, vtracer {version('vtracer')}, resvg-py {version('resvg-py')}, "
          f"cairosvg {version('cairosvg')}.")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
