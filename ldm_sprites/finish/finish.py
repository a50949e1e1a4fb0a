"""``finish_sprites``: the one finishing stage used by generate, demo, export and the API.

Order: alpha and colour snapped together -> optional 1-px outline -> colour limits (shared sheet
palette, then per sprite) -> speckle removal (of the sprites more speckled than the training
data; ``speckled``). For hard-alpha data (no soft entries in the palette) alpha becomes 0/255 at
the data's cut and each visible pixel its nearest palette colour; for data with soft shadows or
glows each pixel takes its nearest entry of transparent, the palette colours and the data's soft
colours, so shadows survive at the data's own alpha levels. Cleanup only ever copies a
neighbour's entry or clears a pixel, so the colour limits still hold at the end, and every
visible pixel is a palette entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ldm_sprites.errors import UserError
from ldm_sprites.finish.cleanup import add_outline, despeckle
from ldm_sprites.finish.palette import PALETTE_JSON, PaletteInfo, compute_palette, from_file
from ldm_sprites.finish.palette_files import MAX_PALETTE
from ldm_sprites.finish.snap import (distance_space, limit_colors, nearest, render, snap_indices,
                                     sprite_counts)
from ldm_sprites.finish.speckle import isolated_shares

MODES = ("auto", "none")
SPECKLE_CONTRAST = 48.0   # RGB distance: below it a lone pixel is a stray shade, above a feature
DESPECKLE_PASSES = 2      # a second pass catches pairs of speckles that shielded each other
SHEET_COLORS = 32         # --shared-palette without --max-colors: a DB32/PICO-8-sized sheet palette
FALLBACK_COLORS_PER_SPRITE = 16  # per-sprite limit when the palette comes from the output itself
OUTLINE_SHARE = 0.5       # the data has one outline colour when at least half its edge pixels have it


@dataclass
class FinishOptions:
    """How to finish sprites. Defaults are ``--finish auto`` (see docs/defaults.md for why)."""

    mode: str = "auto"
    palette: str | None = None          # a user palette file; replaces the model's colours
    max_colors: int | None = None       # per sprite (per sheet with shared_palette); None: the data's
    shared_palette: bool = False        # one palette for every sprite of the batch (a sheet)
    alpha_threshold: int | None = None  # None: the data's
    despeckle: bool = True
    outline: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"unknown finish mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.max_colors is not None and not 1 <= self.max_colors <= MAX_PALETTE:
            raise UserError(f"--max-colors {self.max_colors} is impossible: use 1..{MAX_PALETTE}")
        if self.outline and self.max_colors is not None and self.max_colors < 2:
            raise UserError("--max-colors 1 leaves no colour besides the outline: "
                            "use --max-colors 2 or more, or --no-outline")
        if self.alpha_threshold is not None and not 0 <= self.alpha_threshold <= 255:
            raise UserError(f"--alpha-threshold {self.alpha_threshold} is out of range: use 0..255")
        if self.alpha_threshold == 0 and self.mode == "auto":
            raise UserError("--alpha-threshold 0 keeps soft alpha, but finishing makes alpha hard: "
                            "use 1..255, or --finish none")


def fallback_palette(sprites: np.ndarray) -> PaletteInfo:
    """For models saved without a palette: one computed from the sprites being finished."""
    from ldm_sprites.console import info

    pal = compute_palette(sprites, source="the sprites being finished")
    pal.stats.pop("isolated_p90", None)   # the output's own speckle is no reference: clean all
    pal.soft = pal.soft[:0]   # nor are its soft pixels: a decoder's unsure edges, not shadows
    if pal.colors_per_sprite is not None:
        pal.colors_per_sprite = min(pal.colors_per_sprite, FALLBACK_COLORS_PER_SPRITE)
    info(f"finishing: no saved palette (no model given, or a model directory without "
         f"{PALETTE_JSON}); using {len(pal.colors)} colours computed from the sprites themselves")
    return pal


def resolve_palette(sprites: np.ndarray, palette_info: PaletteInfo | None,
                    options: FinishOptions) -> PaletteInfo:
    """The palette to finish with: the user's file, else the model's, else the fallback."""
    if options.palette is None:
        return palette_info if palette_info is not None else fallback_palette(sprites)
    user = from_file(options.palette)
    if palette_info is not None:  # the user's colours, the data's statistics
        user.alpha_threshold = palette_info.alpha_threshold
        user.colors_per_sprite = palette_info.colors_per_sprite
        user.outline_color, user.stats = palette_info.outline_color, dict(palette_info.stats)
    return user


def _outline_colors(idx: np.ndarray, pal: PaletteInfo) -> np.ndarray:
    """Per sprite: the data's outline colour when the data has one (most edge pixels share it),
    else the darkest colour the sprite already uses (sets whose outlines are a dark shade of each
    creature's own colour, like the demo set, where no colour has half the edge pixels)."""
    n = idx.shape[0]
    if pal.outline_color is not None and pal.stats.get("outline_share", 1.0) >= OUTLINE_SHARE:
        return np.full(n, nearest(np.array([pal.outline_color], np.uint8), pal.colors)[0])
    luma = pal.colors.astype(np.int64) @ np.array([299, 587, 114])
    used = sprite_counts(idx, len(pal.colors)) > 0
    return np.argmin(np.where(used, luma[None, :], np.iinfo(np.int64).max), axis=1)


def speckled(idx: np.ndarray, pal: PaletteInfo) -> np.ndarray:
    """(N,) bool: the sprites to despeckle — those more speckled than the training data's 90th
    percentile (``stats["isolated_p90"]``). A sprite already as clean as the data is left as
    drawn: cleanup there only erases detail the data has too (eyes, glints, 1-px features), which
    costs FD. Without that statistic (user palettes without a model,
    palettes computed from the output itself) every sprite is despeckled."""
    limit = pal.stats.get("isolated_p90")
    if limit is None:
        return np.ones(len(idx), bool)
    return isolated_shares(render(idx, pal.entries())) > limit


def _check_sprites(rgba) -> np.ndarray:
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 4 or rgba.shape[-1] != 4:
        raise UserError(f"finishing needs (N, H, W, 4) uint8 RGBA sprites, got {rgba.dtype} "
                        f"{tuple(rgba.shape)}")
    return rgba


def finish_sprites(rgba: np.ndarray, palette_info: PaletteInfo | None,
                   options: FinishOptions | None = None, wrap: str | None = None) -> np.ndarray:
    """Finish (N, H, W, 4) uint8 sprites; mode 'none' returns ``rgba`` itself, untouched.

    ``palette_info`` is the model's (``from_model_dir``); None falls back to a palette computed
    from ``rgba`` (one line on the console). Deterministic: same input, same bytes. ``wrap``
    ('xy', 'x', 'y'): the sprites are tiles that repeat along those axes (``finish_with_palette``).
    """
    return finish_with_palette(rgba, palette_info, options, wrap=wrap)[0]


def finish_with_palette(rgba: np.ndarray, palette_info: PaletteInfo | None,
                        options: FinishOptions | None = None, wrap: str | None = None):
    """``finish_sprites`` plus the (K, 3) colours it used: the whole palette, or with
    ``shared_palette`` the sheet's own colours (what an export writes as palette.hex).

    ``wrap``: tiles are finished as they repeat: each one tiled three times along the wrapping
    axes (3 x 3 for 'xy'), finished, and its middle copy kept, so outline and speckle cleanup
    see the pixels across the tile's edges instead of the canvas edge, and the colour counts
    (palette choice, colour limits) keep the tile's own proportions."""
    options = options or FinishOptions()
    options.validate()
    if options.mode == "none":
        return rgba, None
    rgba = _check_sprites(rgba)
    if len(rgba) == 0:
        return rgba.copy(), None
    if wrap:
        h, w = rgba.shape[1:3]
        py, px = (h if "y" in wrap else 0), (w if "x" in wrap else 0)
        tiled = np.pad(rgba, ((0, 0), (py, py), (px, px), (0, 0)), mode="wrap")
        out, colors = finish_with_palette(tiled, palette_info, options)
        return np.ascontiguousarray(out[:, py:py + h, px:px + w]), colors
    pal = resolve_palette(rgba, palette_info, options)
    threshold = options.alpha_threshold or pal.alpha_threshold
    # The data's soft alpha (shadows, glows) is kept unless a cut is asked for: --alpha-threshold
    # makes alpha hard, as it always does for hard-alpha data.
    soft = pal.soft if options.alpha_threshold is None else pal.soft[:0]
    entries = pal.entries()[:len(pal.colors) + len(soft)]
    idx = snap_indices(rgba, pal.colors, threshold, soft)
    if options.outline:
        idx = add_outline(idx, _outline_colors(idx, pal))
    if options.shared_palette:
        shared, per_sprite = options.max_colors or SHEET_COLORS, pal.colors_per_sprite
    else:
        shared, per_sprite = None, options.max_colors or pal.colors_per_sprite
    idx = limit_colors(idx, entries, per_sprite, shared)
    if options.despeckle:
        noisy = speckled(idx, pal)
        if noisy.any():
            part = idx[noisy]
            space = distance_space(entries)
            for _ in range(DESPECKLE_PASSES):
                part = despeckle(part, space, SPECKLE_CONTRAST)
            idx = idx.copy()
            idx[noisy] = part
    colors = pal.colors
    if options.shared_palette:
        used = np.unique(idx[idx >= 0])
        colors = colors[used[used < len(colors)]]
    return render(idx, entries), colors


def options_from(finish: str | None = None, palette: str | None = None,
                 max_colors: int | None = None, shared_palette: bool = False,
                 alpha_threshold: int | None = None, despeckle: bool = True,
                 outline: bool = False, default_mode: str = "auto") -> FinishOptions:
    """FinishOptions from command-line values (the names of the ``finish_options`` flags).

    Without ``finish``, asking for a palette, a colour limit or an outline turns finishing on; otherwise
    ``default_mode`` decides (auto for generate/demo, none for export).
    """
    if finish is None:
        asked = palette is not None or max_colors is not None or shared_palette or outline
        finish = "auto" if asked else default_mode
    options = FinishOptions(finish, palette, max_colors, shared_palette, alpha_threshold,
                            despeckle, outline)
    options.validate()
    return options
