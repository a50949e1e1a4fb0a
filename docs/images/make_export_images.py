"""Regenerate docs/images/export-sticker.png and export-sheet.png with the export tool itself.

    python docs/images/make_export_images.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from ldm_sprites.export import ExportOptions, Sprite, export_sprites

HERE = Path(__file__).resolve().parent


def demo_sprites(n_per_class: int) -> list[Sprite]:
    from ldm_sprites.demo_art import make_demo_sprites

    images, labels = make_demo_sprites(n_per_class, 32, 0)
    return [Sprite(f"{lab}-{i:02d}", np.ascontiguousarray(im), lab, i)
            for i, (im, lab) in enumerate(zip(images, labels))]


def main() -> None:
    sprites = demo_sprites(2)
    with tempfile.TemporaryDirectory() as tmp:
        sticker_opts = ExportOptions(upscale=8, svg=False, sheet=False, gif=False, shadow=True)
        export_sprites(sprites[:1], Path(tmp) / "sticker", sticker_opts)
        shutil.copyfile(Path(tmp) / "sticker" / "stickers" / f"{sprites[0].name}.png",
                        HERE / "export-sticker.png")
        sheet_opts = ExportOptions(upscale=4, svg=False, stickers=False, gif=False, columns=6)
        export_sprites(sprites, Path(tmp) / "sheet", sheet_opts)
        shutil.copyfile(Path(tmp) / "sheet" / "sheet.png", HERE / "export-sheet.png")


if __name__ == "__main__":
    main()
