"""Reading a folder of sprite images into ``Sprite`` records (with class/seed from sidecars)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ldm_sprites.data.images import ImageDecodeError, open_image, to_rgba
from ldm_sprites.errors import UserError
from ldm_sprites.export.background import key_uniform_border
from ldm_sprites.runtime import IMAGE_SUFFIXES

# Files the generation step (or a previous export) writes beside sprites; not counted as skipped.
SIDECARS = ("sprites.json", "manifest.json")


@dataclass
class Sprite:
    """One sprite: ``rgba`` is an (H, W, 4) uint8 array; the rest is optional provenance."""

    name: str
    rgba: np.ndarray
    class_name: str | None = None
    seed: int | None = None
    source: str | None = None


@dataclass
class FolderScan:
    """The sprites of a folder plus what the CLI should tell the user about the rest."""

    sprites: list[Sprite]
    skipped: list[str] = field(default_factory=list)  # not an image, or unreadable
    unreadable: list[str] = field(default_factory=list)  # why each unreadable image was skipped
    keyed: list[str] = field(default_factory=list)  # had no alpha; border colour keyed out
    opaque: list[str] = field(default_factory=list)  # had no alpha and no uniform border


def safe_name(name: str) -> str:
    """A file-name-safe version of ``name`` (sprite names become output file names)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "sprite"


def _read_sidecar(folder: Path) -> dict[str, dict]:
    """file name -> {"class":..., "seed":...} from sprites.json (or a manifest.json) if present."""
    entries: dict[str, dict] = {}
    for sidecar in reversed(SIDECARS):  # sprites.json wins over manifest.json
        path = folder / sidecar
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            if sidecar == "manifest.json":
                continue  # some other tool's manifest: not ours to judge
            raise UserError(f"cannot read {path}: {exc} (fix or delete it)") from None
        rows = data.get("sprites", data.get("files", [])) if isinstance(data, dict) else []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            file = row.get("file", row.get("source", row.get("path")))
            if isinstance(file, str):
                entries[Path(file).name] = row
    return entries


def _as_int(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _read_image(path: Path) -> tuple[np.ndarray, str]:
    """RGBA pixels and how alpha was obtained: 'alpha', 'keyed' or 'opaque'."""
    with open_image(path) as image:
        image.seek(0)  # animated GIF/WebP: the first frame is the sprite
        had_alpha = _has_alpha(image)
        rgba = to_rgba(image)
    if had_alpha and rgba[..., 3].min() < 255:
        return rgba, "alpha"
    # No alpha channel, or one that is opaque everywhere: try the background colour instead.
    keyed = key_uniform_border(rgba[..., :3])
    return (keyed, "keyed") if keyed is not None else (rgba, "opaque")


def scan_sprite_folder(path) -> FolderScan:
    """Load every image file of ``path`` (sorted by name) and report what was skipped."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"input folder {folder} does not exist or is not a folder")
    meta = _read_sidecar(folder)
    scan = FolderScan(sprites=[])
    used_names: set[str] = set()
    for file in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if file.name in SIDECARS:
            continue
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            scan.skipped.append(file.name)
            continue
        try:
            rgba, how = _read_image(file)
        except ImageDecodeError as exc:
            scan.skipped.append(file.name)
            scan.unreadable.append(str(exc))
            continue
        name = safe_name(file.stem)
        if name in used_names:  # a.png and a.jpg: keep both, distinguish by format
            name = safe_name(f"{file.stem}-{file.suffix.lstrip('.').lower()}")
        used_names.add(name)
        if how != "alpha":
            getattr(scan, how).append(file.name)
        row = meta.get(file.name, {})
        class_name = row.get("class", row.get("class_name"))
        scan.sprites.append(
            Sprite(
                name=name,
                rgba=rgba,
                class_name=str(class_name) if class_name is not None else None,
                seed=_as_int(row.get("seed")),
                source=str(file),
            )
        )
    return scan


def load_sprite_folder(path) -> list[Sprite]:
    """The sprites of a folder, sorted by file name (see ``scan_sprite_folder`` for the report)."""
    return scan_sprite_folder(path).sprites
