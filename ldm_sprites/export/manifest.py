"""The record of an export: every file written, with the sprite(s), class and seed behind it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import ldm_sprites
from ldm_sprites.export.sprites import Sprite

MANIFEST_NAME = "manifest.json"


class Manifest:
    def __init__(self, out_dir: Path, options: dict):
        self.out_dir = Path(out_dir)
        self.options = options
        self.files: list[dict] = []
        self.sprites: list[dict] = []

    def add_sprite(self, sprite: Sprite) -> None:
        h, w = sprite.rgba.shape[:2]
        self.sprites.append(
            {"name": sprite.name, "class": sprite.class_name, "seed": sprite.seed,
             "source": sprite.source, "width": w, "height": h}
        )

    def add_file(self, path: Path, kind: str, sprites: list[Sprite]) -> None:
        """Record ``path``; one sprite gives its class/seed/source, several give their names."""
        entry = {"file": Path(path).relative_to(self.out_dir).as_posix(), "kind": kind}
        if len(sprites) == 1:
            s = sprites[0]
            entry.update(sprite=s.name, **{"class": s.class_name}, seed=s.seed, source=s.source)
        else:
            entry["sprites"] = [s.name for s in sprites]
        self.files.append(entry)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f["kind"] for f in self.files).items()))

    def to_json(self) -> dict:
        return {
            "app": "ldm-sprites",
            "version": ldm_sprites.__version__,
            "options": self.options,
            "counts": self.counts(),
            "files": sorted(self.files, key=lambda f: f["file"]),
            "sprites": self.sprites,
        }
