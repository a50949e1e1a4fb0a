"""The finishing flags, once, for every command that writes sprites (generate, demo, export).

    @click.command()
    @finish_options()                      # export uses finish_options(default_mode="none")
    def generate(..., **kwargs):
        options = to_finish_options(kwargs)    # pops the flags' values -> FinishOptions
"""

from __future__ import annotations

import click

from ldm_sprites.finish.finish import MODES, options_from

# click parameter names the decorator adds; ``to_finish_options`` takes exactly these.
FINISH_PARAMS = ("finish", "palette", "max_colors", "shared_palette", "alpha_threshold",
                 "despeckle", "outline")


def finish_options(default_mode: str = "auto"):
    """Add --finish, --palette, --max-colors, --shared-palette, --alpha-threshold,
    --despeckle/--no-despeckle and --outline/--no-outline (defaults: docs/defaults.md)."""
    off = default_mode == "none"

    def decorate(fn):
        for opt in reversed([
            click.option("--finish", type=click.Choice(MODES), default=None,
                         help=f"Pixel-exact finishing: palette, hard alpha, clean pixels "
                              f"(default: {default_mode}{'; on with any option below' if off else ''}). "
                              "none = the raw pixels, bit for bit."),
            click.option("--palette", type=click.Path(dir_okay=False), default=None,
                         help="Use this palette instead of the model's: GIMP .gpl, .hex/.txt "
                              "list or a PNG swatch."),
            click.option("--max-colors", type=int, default=None,
                         help="Colours per sprite (per sheet with --shared-palette); default: "
                              "the training data's 90th percentile."),
            click.option("--shared-palette/--no-shared-palette", default=None,
                         help="One palette for all sprites of the batch (a sprite sheet); "
                              "default 32 colours. Default: off (on for --tileable tiles)."),
            click.option("--alpha-threshold", type=int, default=None,
                         help="Alpha at or above this becomes opaque, the rest transparent "
                              "(default: from the data, 128 for hard-alpha art)."),
            click.option("--despeckle/--no-despeckle", default=True,
                         help="Remove stray pixels; lines, outlines and 1-px eyes stay."),
            click.option("--outline/--no-outline", default=False,
                         help="Add a 1-px outline in the data's outline colour."),
        ]):
            fn = opt(fn)
        return fn
    return decorate


def to_finish_options(values: dict, default_mode: str = "auto", shared_default: bool = False):
    """Pop the finishing flags' values from a command's keyword arguments -> FinishOptions
    (a UserError for impossible combinations). ``shared_default``: --shared-palette when the
    user set neither it nor --no-shared-palette (tiles that must fit together)."""
    picked = {name: values.pop(name) for name in FINISH_PARAMS if name in values}
    if picked.get("shared_palette") is None:
        picked["shared_palette"] = bool(shared_default) and picked.get("finish") != "none"
    return options_from(**picked, default_mode=default_mode)
