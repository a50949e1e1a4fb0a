"""Pixel-exact finishing: every sprite in a palette, with hard alpha and clean pixels.

    from ldm_sprites.finish import FinishOptions, finish_sprites, from_model_dir
    finished = finish_sprites(sprites, from_model_dir(model_dir), FinishOptions())

Modules: ``palette`` (a model's palette and data statistics, saved as palette.json/.gpl/.hex),
``palette_files`` (reading and writing palette files), ``snap`` (alpha, nearest colour, colour
limits), ``cleanup`` (speckle removal that keeps lines and eyes, outline), ``finish`` (options and
the stage itself). numpy and Pillow only: cheap to import.
"""

from ldm_sprites.finish.finish import FinishOptions, finish_sprites, resolve_palette
from ldm_sprites.finish.palette import PaletteInfo, compute_palette, from_model_dir
from ldm_sprites.finish.palette_files import load_palette

__all__ = ["FinishOptions", "PaletteInfo", "compute_palette", "finish_sprites", "from_model_dir",
           "load_palette", "resolve_palette"]
