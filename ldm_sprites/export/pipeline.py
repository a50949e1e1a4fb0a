"""``export_sprites``: clean, upscale, trace, sticker and pack a list of sprites, then write the
manifest. Each stage lives in its own module; this one only orders them and writes files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ldm_sprites.errors import UserError
from ldm_sprites.export import gif, palette, sheet, stickers, svg
from ldm_sprites.export.manifest import MANIFEST_NAME, Manifest
from ldm_sprites.export.options import MAX_OUTPUT_SIDE, ExportOptions, parse_color
from ldm_sprites.export.sprites import Sprite, safe_name
from ldm_sprites.export.upscale import upscale
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
    """Snap alpha, then colours to a shared palette (written as palette.hex) if asked."""
    cleaned = [palette.snap_alpha(s.rgba, options.alpha_threshold) for s in sprites]
    if options.palette is not None:
        colors = palette.load_palette(options.palette)
    elif options.colors is not None:
        colors = palette.fit_palette(cleaned, options.colors)
    else:
        return cleaned
    path = out / "palette.hex"
    atomic_write_text(path, "".join("{:02x}{:02x}{:02x}\n".format(*c) for c in colors.tolist()))
    manifest.add_file(path, "palette", sprites)
    return [palette.snap_to_palette(rgba, colors) for rgba in cleaned]


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
    if options.gif:
        frames = gif.gif_frames(upscaled)
        path = atomic_save_image(out / "animation.gif", frames[0], **gif.gif_save_kwargs(frames, options.fps))
        manifest.add_file(path, "gif", sprites)

    result = manifest.to_json()
    atomic_write_json(out / MANIFEST_NAME, result)
    return result
