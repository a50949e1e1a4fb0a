"""Export: turn RGBA sprites into upscaled PNGs, SVGs, die-cut stickers, a sprite sheet with a
TexturePacker JSON atlas, an animated GIF and a manifest. See docs/export.md.

Heavy work (vtracer, scipy) is imported here, so import this package inside command bodies.
"""

from ldm_sprites.export.options import ExportOptions
from ldm_sprites.export.pipeline import export_sprites
from ldm_sprites.export.sprites import FolderScan, Sprite, load_sprite_folder, scan_sprite_folder

__all__ = [
    "ExportOptions",
    "FolderScan",
    "Sprite",
    "export_sprites",
    "load_sprite_folder",
    "scan_sprite_folder",
]
