"""``export_sprites``: clean, upscale, trace, sticker and pack a list of sprites, then write the
manifest. Each stage lives in its own module; this one only orders them and writes files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ldm_sprites.errors import UserError
from ldm_sprites.export import gif, sheet, stickers, svg
from ldm_sprites.export.manifest import MANIFEST_NAME, Manifest
from ldm_sprites.export.options import MAX_OUTPUT_SIDE, ExportOptions, parse_color
from ldm_sprites.export.sprites import Sprite, safe_name
from ldm_sprites.export.tiles import export_tileset
from ldm_sprites.export.upscale import upscale
from ldm_sprites.finish import from_model_dir
from ldm_sprites.finish.finish import finish_with_palette
from ldm_sprites.finish.palette_files import hex_text
from ldm_sprites.finish.snap import hard_alpha
from ldm_sprites.fsutil import atomic_save_image, atomic_write_json, atomic_write_text, ensure_dir
from PIL import Image

SHEET_NAME = "sheet"


def _check_sprites(sprites: list[Sprite], factor: int) -> None:
    if not sprites:
        raise UserError("no sprites to export: the input holds no readable images")
    for s in sprites:
        rgba = s.rgba
        if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8 or rgba.ndim != 3 \
                or rgba.shape[2] != 4 or 0 in rgba.shape:
            raise UserError(f"sprite {s.name!r} is not a non-empty (H, W, 4) uint8 RGBA array")
        side = max(rgba.shape[:2]) * factor
        if side > MAX_OUTPUT_SIDE:
            limit = max(1, MAX_OUTPUT_SIDE // max(rgba.shape[:2]))
            raise UserError(
                f"sprite {s.name!r} is {rgba.shape[1]}x{rgba.shape[0]}; x{factor} would be {side} px "
                f"wide: use --upscale {limit} or less"
            )


def _unique_names(sprites: list[Sprite]) -> list[Sprite]:
    """Copies with file-safe, unique names (they become file names and atlas frame names)."""
    seen: set[str] = set()
    out = []
    for s in sprites:
        base = name = safe_name(s.name)
        n = 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        out.append(Sprite(name, s.rgba, s.class_name, s.seed, s.source))
    return out


def _clean(sprites: list[Sprite], options: ExportOptions, out: Path, manifest: Manifest):
    """Alpha as given (or cut at --alpha-threshold); with finishing on, the finishing stage (ldm_sprites.finish) over all sprites
    at once, and the palette it used written as palette.hex."""
    finish = options.finishing
    if finish.mode == "none":
        # Without finishing the sprites are taken as they are: their soft shadows stay (only the
        # colour hidden under alpha 0 is cleared); --alpha-threshold T cuts at T.
        return [hard_alpha(s.rgba, finish.alpha_threshold or 0) for s in sprites]
    # One batch, so a shared palette spans every sprite: pad to the largest size with
    # transparency (which finishing treats like the canvas edge) and crop back afterwards.
    h = max(s.rgba.shape[0] for s in sprites)
    w = max(s.rgba.shape[1] for s in sprites)
    batch = np.zeros((len(sprites), h, w, 4), np.uint8)
    for i, s in enumerate(sprites):
        batch[i, : s.rgba.shape[0], : s.rgba.shape[1]] = s.rgba
    model_palette = from_model_dir(options.model) if options.model else None
    # Tiles (--tileset) are finished as they repeat, so cleanup keeps their seams.
    finished, colors = finish_with_palette(batch, model_palette, finish, wrap=options.tileset)
    path = out / "palette.hex"
    atomic_write_text(path, hex_text(colors))
    manifest.add_file(path, "palette", sprites)
    return [finished[i, : s.rgba.shape[0], : s.rgba.shape[1]] for i, s in enumerate(sprites)]


def _write_sheet(sprites, upscaled, options: ExportOptions, out: Path, manifest: Manifest) -> None:
    frames = [sheet.make_frame(f"{s.name}.png", up, options.trim) for s, up in zip(sprites, upscaled)]
    size = sheet.pack(frames, options.padding, options.columns, options.pot)
    animations: dict[str, list[str]] = {}
    for s, f in zip(sprites, frames):
        animations.setdefault(s.class_name or "sprites", []).append(f.name)
    png_path = out / f"{SHEET_NAME}.png"
    atomic_save_image(png_path, sheet.render_sheet(frames, size))
    manifest.add_file(png_path, "sheet", sprites)
    json_path = out / f"{SHEET_NAME}.json"
    atomic_write_json(json_path, sheet.atlas_json(frames, size, png_path.name, animations))
    manifest.add_file(json_path, "atlas", sprites)


def export_sprites(
    sprites: list[Sprite], out_dir, options: ExportOptions | None = None, progress: bool = False
) -> dict:
    """Write every requested asset for ``sprites`` under ``out_dir``; return the manifest dict
    (also written as ``out_dir/manifest.json``)."""
    options = options or ExportOptions()
    options.validate()
    factor = options.upscale
    _check_sprites(sprites, factor)
    sprites = _unique_names(sprites)
    border_rgba = parse_color(options.border_color)
    out = ensure_dir(out_dir)
    manifest = Manifest(out, options.to_json())
    for s in sprites:
        manifest.add_sprite(s)
    cleaned = _clean(sprites, options, out, manifest)
    crisp = options.svg_mode == "pixel"

    upscaled, sticker_images, cut_masks = [], [], []
    for s, rgba in tqdm(list(zip(sprites, cleaned)), desc="export", unit="sprite", disable=not progress):
        up = upscale(rgba, factor, options.scaler)
        upscaled.append(up)
        path = atomic_save_image(out / "png" / f"{s.name}.png", Image.fromarray(up, "RGBA"))
        manifest.add_file(path, "png", [s])
        if not (options.svg or options.stickers):
            continue
        trace = svg.trace_sprite(rgba, options.svg_mode)
        if options.svg:
            path = atomic_write_text(out / "svg" / f"{s.name}.svg", svg.sprite_svg(trace, factor, options.svg_mode))
            manifest.add_file(path, "svg", [s])
        if options.stickers:
            layout = stickers.layout_sticker(up.shape[:2], options.border * factor, options.shadow)
            image, coverage = stickers.sticker_png(up, layout, border_rgba, options.shadow)
            sticker_images.append(image)
            cut_masks.append(coverage >= 0.5)
            path = atomic_save_image(out / "stickers" / f"{s.name}.png", image)
            manifest.add_file(path, "sticker-png", [s])
            document = stickers.sticker_svg(
                trace, factor, layout, coverage, border_rgba, options.shadow, crisp
            )
            path = atomic_write_text(out / "stickers" / f"{s.name}.svg", document)
            manifest.add_file(path, "sticker-svg", [s])

    for i, page in enumerate(stickers.sticker_sheets(sticker_images, cut_masks), start=1):
        dpi = (stickers.PRINT_DPI, stickers.PRINT_DPI)
        path = atomic_save_image(out / f"sticker-sheet-{i}.png", page, dpi=dpi)
        manifest.add_file(path, "sticker-sheet", sprites)
    if options.sheet:
        _write_sheet(sprites, upscaled, options, out, manifest)
    if options.tileset:
        tiles = [Sprite(s.name, rgba, s.class_name, s.seed, s.source)
                 for s, rgba in zip(sprites, cleaned)]
        export_tileset(tiles, out, options.tileset, preview_scale=factor, manifest=manifest)
    if options.gif:
        frames = gif.gif_frames(upscaled)
        path = atomic_save_image(out / "animation.gif", frames[0], **gif.gif_save_kwargs(frames, options.fps))
        manifest.add_file(path, "gif", sprites)

    result = manifest.to_json()
    atomic_write_json(out / MANIFEST_NAME, result)
    return result
