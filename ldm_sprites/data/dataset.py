"""Find the sprites of a folder, read their labels, decode them once into a cached tensor file.

Three layouts are understood:

* **imagefolder** — a ``metadata.csv`` with a ``file_name`` column (Hugging Face convention); the
  class comes from ``label_column``.
* **classfolders** — one sub-folder per class (torchvision ``ImageFolder``).
* **flat** — images directly in the folder; unconditional.

Decoding and resizing happen once; the result (uint8 RGBA, labels, class names) is stored in a
safetensors file whose name hashes the file list, sizes, mtimes and the settings, so epochs and
later runs never touch image files again, and any change to the data re-decodes. Sprites are
decoded straight into that file and it is opened as a memory map (``mapped.py``), so a data set
larger than RAM trains and the process's anonymous memory does not grow with the data set.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ldm_sprites.console import info, progress, warn
from ldm_sprites.data.images import (ImageDecodeError, composite_on, fit_square, is_image_file,
                                     load_rgba, parse_color)
from ldm_sprites.data.spec import DataSpec
from ldm_sprites.errors import UserError

CACHE_VERSION = 1


@dataclass
class SpriteData:
    images: torch.Tensor          # (N, 4, H, W) uint8, straight (not premultiplied) RGBA
    labels: torch.Tensor          # (N,) int64 class ids; all 0 when unconditional
    classes: list[str]            # id -> name; empty when unconditional
    layout: str
    cache_file: Path | None = None

    def __len__(self) -> int:
        return self.images.shape[0]


def default_cache_dir() -> Path:
    env = os.environ.get("LDMSPRITES_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ldm-sprites"


def _closest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.4)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_csv_text(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    warn(f"{path.name} is neither UTF-8 nor Windows-1252; reading it as Latin-1")
    return raw.decode("latin-1")


def _discover_imagefolder(root: Path, label_column: str | None):
    meta = root / "metadata.csv"
    text = _read_csv_text(meta)
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "file_name" not in columns:
        raise UserError(f"{meta} has no 'file_name' column (columns: {', '.join(columns) or 'none'}); "
                        "the first column must name each image file, e.g. images/001.png")
    if label_column is not None and label_column not in columns:
        others = [c for c in columns if c != "file_name"]
        raise UserError(f"{meta} has no column '{label_column}'{_closest(label_column, others)}; "
                        f"label columns are: {', '.join(others) or 'none'}")
    if label_column is None:
        others = [c for c in columns if c != "file_name"]
        if others:
            info(f"metadata.csv has label columns {', '.join(others)}; labels not used "
                 "(diffusion: pass --label-column NAME for class-conditional training)")
    files, labels, missing_label = [], [], 0
    for row in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        name = row.get("file_name", "")
        if not name:
            continue
        label = row.get(label_column, "") if label_column else None
        if label_column and not label:
            missing_label += 1
            continue
        files.append(root / name)
        labels.append(label)
    if missing_label:
        warn(f"skipped {missing_label} rows of metadata.csv with an empty '{label_column}'")
    return files, labels


def discover(root: str | Path, label_column: str | None = None):
    """Return (files, labels, layout). ``labels`` holds class names, or None for unconditional."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; point --data at a folder of images")
    if (root / "metadata.csv").is_file():
        files, labels = _discover_imagefolder(root, label_column)
        return files, (labels if label_column else None), "imagefolder"
    entries = sorted(root.iterdir())
    top_images = [p for p in entries if p.is_file() and is_image_file(p)]
    subdirs = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    class_dirs = [d for d in subdirs if any(is_image_file(f) for f in d.iterdir() if f.is_file())]
    if class_dirs and not top_images:
        files, labels = [], []
        for d in class_dirs:
            for f in sorted(d.iterdir()):
                if f.is_file() and is_image_file(f):
                    files.append(f)
                    labels.append(d.name)
        if label_column is not None:
            info(f"{root} uses one folder per class; --label-column '{label_column}' is ignored")
        return files, labels, "classfolders"
    if label_column is not None and top_images:
        raise UserError(f"--label-column '{label_column}' given but {root} has no metadata.csv; "
                        "add a metadata.csv or put each class in its own sub-folder")
    return top_images, None, "flat"


def _cache_key(root: Path, files: list[Path], labels, layout: str, spec: DataSpec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "spec": asdict(spec), "layout": layout,
                         "root": str(root.resolve())}, sort_keys=True).encode())
    for i, f in enumerate(files):
        try:
            st = f.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{f}|{stamp}|{labels[i] if labels else ''}\n".encode())
    return h.hexdigest()[:24]


def _decode_into(put, files, labels, spec: DataSpec, max_bad_fraction: float) -> list:
    """Decode every file; ``put(k, sprite)`` receives the k-th readable one as (H, W, 4) uint8.
    Returns the labels of the sprites kept."""
    bg = parse_color(spec.background) if spec.channels == 3 else None
    kept_labels, bad = [], []
    for i, f in enumerate(progress(files, desc="decoding sprites", unit="img", leave=False)):
        try:
            rgba = load_rgba(f)
        except ImageDecodeError as exc:
            bad.append(str(exc))
            continue
        sprite = fit_square(rgba, spec.size, spec.resample)
        if bg is not None:
            sprite = composite_on(sprite, bg)
        put(len(kept_labels), sprite)
        kept_labels.append(labels[i] if labels else None)
    if bad:
        share = len(bad) / max(1, len(files))
        if not kept_labels or share > max_bad_fraction:
            raise UserError(f"{len(bad)} of {len(files)} images could not be read "
                            f"(first: {bad[0]}); fix or remove them "
                            f"(limit is {max_bad_fraction:.0%} bad files)")
        warn(f"skipped {len(bad)} unreadable image(s), e.g. {bad[0]}")
    return kept_labels


def _label_ids(labels, kept: list) -> tuple[list[str], torch.Tensor]:
    if labels is None:
        return [], torch.zeros(len(kept), dtype=torch.int64)
    classes = sorted(set(kept))
    index = {c: i for i, c in enumerate(classes)}
    return classes, torch.tensor([index[c] for c in kept], dtype=torch.int64)


def _decode_to_cache(cache_file: Path, files, labels, layout: str, spec: DataSpec,
                     max_bad_fraction: float) -> SpriteData | None:
    """Decode straight into a scratch memory map, then write the cache file chunk by chunk and
    map it: no step holds the whole data set in anonymous memory. ``None`` when the cache folder
    cannot even hold the scratch file; a failed cache write returns the sprites in memory."""
    from ldm_sprites.data.mapped import create_safetensors, map_safetensors
    from ldm_sprites.fsutil import atomic_path, ensure_dir

    shape = (spec.size, spec.size)
    scratch = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.decode")
    try:
        ensure_dir(cache_file.parent)
        buf = np.memmap(scratch, dtype=np.uint8, mode="w+", shape=(len(files), 4, *shape))
    except (OSError, UserError) as exc:
        scratch.unlink(missing_ok=True)
        warn(f"could not write the data cache ({_first_line(exc)}); decoding into memory")
        return None
    try:
        def put(k, sprite):
            buf[k] = sprite.transpose(2, 0, 1)
        kept = _decode_into(put, files, labels, spec, max_bad_fraction)
        classes, label_ids = _label_ids(labels, kept)
        try:
            with atomic_path(cache_file) as tmp:
                out = create_safetensors(tmp, {"images": (np.uint8, (len(kept), 4, *shape)),
                                               "labels": (np.int64, (len(kept),))},
                                         metadata={"classes": json.dumps(classes), "layout": layout})
                n = len(kept)   # unreadable files leave the scratch map's last slots unused
                for i in range(0, n, 4096):
                    out["images"][i:min(i + 4096, n)] = buf[i:min(i + 4096, n)]
                out["labels"][:] = label_ids.numpy()
                for arr in out.values():
                    if isinstance(arr, np.memmap):
                        arr.flush()
                del out
        except (OSError, UserError) as exc:
            warn(f"could not write the data cache ({_first_line(exc)}); "
                 "images will be decoded again next time")
            images = torch.from_numpy(np.array(buf[:len(kept)]))
            return SpriteData(images, label_ids, classes, layout, None)
    finally:
        del buf
        scratch.unlink(missing_ok=True)
    tensors, _ = map_safetensors(cache_file)
    return SpriteData(tensors["images"], tensors["labels"], classes, layout, cache_file)


def _first_line(exc: Exception) -> str:
    text = exc.message if isinstance(exc, UserError) else (str(exc) or repr(exc))
    return text.splitlines()[0] if text else repr(exc)


def load_sprite_data(root: str | Path, spec: DataSpec, cache_dir: str | Path | None = None,
                     max_bad_fraction: float = 0.1, use_cache: bool = True) -> SpriteData:
    """Discover, decode (or load from cache) and return the sprites of ``root``.

    ``spec``: a ``DataSpec`` or a stage's data section (its augmentation settings do not matter
    here)."""
    root = Path(root)
    spec = spec.spec()
    files, labels, layout = discover(root, spec.label_column)
    if not files:
        raise UserError(f"no images found in {root} (looked for .png, .jpg, .gif, .webp files, "
                        "a metadata.csv or one sub-folder per class)")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = _cache_key(root, files, labels, layout, spec)
    cache_file = cache_dir / f"sprites-{key}.safetensors"
    if use_cache and cache_file.is_file():
        try:
            from ldm_sprites.data.mapped import map_safetensors

            tensors, meta = map_safetensors(cache_file)
            classes = json.loads(meta["classes"])
            return SpriteData(tensors["images"], tensors["labels"], classes, layout, cache_file)
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt, never fatal
            warn(f"cache file {cache_file.name} is unreadable; decoding the images again")
    if use_cache:
        data = _decode_to_cache(cache_file, files, labels, layout, spec, max_bad_fraction)
        if data is not None:
            return data
    arrays: list = []
    kept = _decode_into(lambda k, sprite: arrays.append(sprite), files, labels, spec,
                        max_bad_fraction)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    classes, label_ids = _label_ids(labels, kept)
    return SpriteData(images, label_ids, classes, layout, None)


def class_counts(data: SpriteData) -> dict[str, int]:
    if not data.classes:
        return {}
    counts = torch.bincount(data.labels, minlength=len(data.classes)).tolist()
    return dict(zip(data.classes, counts))
