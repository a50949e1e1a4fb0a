"""Rendering demo sprites by seed and writing the demo set (imagefolder layout)."""

from __future__ import annotations

import csv
import io
import re
import sys
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ldm_sprites.demo_art.canvas import Canvas, Params
from ldm_sprites.demo_art.creatures import DRAWERS
from ldm_sprites.demo_art.palettes import DEMO_CLASSES, PALETTES, mix_ramp


def _render(class_name: str, rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    if class_name not in DRAWERS:
        raise ValueError(f"unknown demo class {class_name!r}; choose from {', '.join(DEMO_CLASSES)}")
    p = Params(rng)
    pal = PALETTES[class_name]
    a, b = pal["body"]  # type: ignore[misc]
    body = mix_ramp(a, b, p.i(0, 16))
    jitter = p.i(-10, 10)
    body = tuple(tuple(min(255, max(0, v + jitter)) for v in col) for col in body)  # type: ignore
    scale = p.u(0.8, 1.0)
    state = rng.bit_generator.state
    while True:  # shrink until the creature fits (re-drawing the same creature)
        c = Canvas(size, scale=scale, pad=size // 4)
        c.outline_color = pal["outline"]  # type: ignore[assignment]
        shape = DRAWERS[class_name](c, p, pal, body)
        img = c.crop()
        if img is not None or scale <= 0.25:
            return (img if img is not None else np.zeros((size, size, 4), np.uint8)), shape
        scale -= 0.0625
        rng.bit_generator.state = state


def render_sprite(class_name: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """Draw one sprite of ``class_name``: uint8 RGBA array (size, size, 4), hard alpha."""
    return _render(class_name, rng, size)[0]


def _sprite_rng(seed: int, class_name: str, index: int) -> np.random.Generator:
    key = zlib.crc32(class_name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), key, int(index)])))


def _iter_sprites(n_per_class: int, size: int, seed: int, classes: Sequence[str]):
    for name in classes:
        for i in range(n_per_class):
            img, shape = _render(name, _sprite_rng(seed, name, i), size)
            yield name, i, img, shape


def _check_args(n_per_class: int, size: int, classes: Sequence[str]) -> None:
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number >= 16 (16, 32 or 64), got {size}")
    unknown = [c for c in classes if c not in DRAWERS]
    if unknown:
        raise ValueError(f"unknown demo class {unknown[0]!r}; choose from {', '.join(DEMO_CLASSES)}")


def make_demo_sprites(
    n_per_class: int, size: int = 32, seed: int = 0, classes: Iterable[str] = DEMO_CLASSES
) -> tuple[np.ndarray, list[str]]:
    """Render ``n_per_class`` sprites of each class, class after class.

    Returns ``(images, labels)``: a uint8 array (N, size, size, 4) and the class name of each.
    """
    classes = tuple(classes)
    _check_args(n_per_class, size, classes)
    out = np.zeros((n_per_class * len(classes), size, size, 4), dtype=np.uint8)
    labels: list[str] = []
    for k, (name, _i, img, _shape) in enumerate(_iter_sprites(n_per_class, size, seed, classes)):
        out[k] = img
        labels.append(name)
    return out, labels


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    # no text chunks, no timestamps: PIL writes IHDR/IDAT/IEND only for a plain RGBA image
    Image.fromarray(img, "RGBA").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_demo_set(
    out_dir: str | Path,
    n_per_class: int = 250,
    size: int = 32,
    seed: int = 0,
    classes: Iterable[str] = DEMO_CLASSES,
    progress: bool = False,
) -> Path:
    """Write the demo set in the Hugging Face imagefolder layout and return ``out_dir``.

    ``out_dir/images/<class>-<index:05d>.png`` (RGBA) and ``out_dir/metadata.csv`` with columns
    ``file_name,type,shape``. The same seed gives the same bytes (PNG compression is fixed;
    bytes can only differ across zlib builds, pixels never). Demo PNGs left over from an earlier,
    larger run in ``images/`` are removed so the folder matches metadata.csv; other files are
    left alone. metadata.csv is written last (atomically), so it only exists for a complete set.
    """
    from ldm_sprites.fsutil import atomic_write_text, ensure_dir

    classes = tuple(classes)
    _check_args(n_per_class, size, classes)
    out = ensure_dir(out_dir)
    images = ensure_dir(out / "images")
    meta = out / "metadata.csv"
    meta.unlink(missing_ok=True)

    total = n_per_class * len(classes)
    bar = None
    if progress and total:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="demo sprites", unit="img", file=sys.stderr,
                   disable=not sys.stderr.isatty(), leave=False)
    written: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    try:
        for name, i, img, shape in _iter_sprites(n_per_class, size, seed, classes):
            fname = f"{name}-{i:05d}.png"
            (images / fname).write_bytes(_png_bytes(img))
            written.add(fname)
            rows.append((f"images/{fname}", name, shape))
            if bar is not None:
                bar.update(1)
    except OSError as exc:
        from ldm_sprites.errors import UserError
        from ldm_sprites.fsutil import describe_os_error

        raise UserError(describe_os_error(images, exc)) from None
    finally:
        if bar is not None:
            bar.close()

    pattern = re.compile(r"^(%s)-\d{5}\.png$" % "|".join(map(re.escape, DEMO_CLASSES)))
    for stale in images.iterdir():
        if pattern.match(stale.name) and stale.name not in written:
            stale.unlink()

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("file_name", "type", "shape"))
    writer.writerows(rows)
    atomic_write_text(meta, buf.getvalue())
    return out
