"""``ldmsprites export``: a folder of sprites -> upscaled PNGs, SVGs, stickers and a sprite sheet."""

from __future__ import annotations

import click

from ldm_sprites.cli.finish_options import finish_options
from ldm_sprites.export.options import SCALERS, SVG_MODES, UPSCALE_RANGE

# Defaults live in ExportOptions; the CLI repeats them only for --help (a test keeps them equal).
_KIND_LABELS = {
    "png": "upscaled PNG",
    "svg": "SVG",
    "sticker-png": "sticker PNG",
    "sticker-svg": "sticker SVG",
    "sticker-sheet": "printable sticker sheet",
    "sheet": "sprite sheet PNG",
    "atlas": "atlas JSON file",
    "gif": "animated GIF",
    "palette": "palette file",
    "tile-preview": "3x3 tile preview",
    "tileset": "tileset PNG",
    "tileset-tsx": "Tiled tileset (.tsx)",
    "tilemap": "Tiled JSON map",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(files: list[str], most: int = 3) -> str:
    more = f", and {len(files) - most} more" if len(files) > most else ""
    return ", ".join(files[:most]) + more


@click.command(short_help="Turn a folder of sprites into upscaled PNGs, SVGs, stickers and a sprite sheet.")
@click.argument("input_dir", metavar="INPUT", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--upscale", type=click.IntRange(*UPSCALE_RANGE), default=8, show_default=True,
              help="Integer scale factor for PNGs, stickers and the sheet.")
@click.option("--scaler", type=click.Choice(SCALERS), default="nearest", show_default=True,
              help="Pixel-art scaler: nearest blocks, or Scale2x/EPX (identical) to round diagonals.")
@finish_options(default_mode="none")
@click.option("--model", "model", type=click.Path(), default=None,
              help="Finish with this model's palette and data statistics (default: a palette "
                   "computed from the sprites).")
@click.option("--svg/--no-svg", default=True, show_default=True, help="Write traced SVGs.")
@click.option("--svg-mode", type=click.Choice(SVG_MODES), default="pixel", show_default=True,
              help="pixel: exact pixel squares merged into paths; spline: smooth curves.")
@click.option("--stickers/--no-stickers", default=True, show_default=True,
              help="Write die-cut sticker PNG+SVG and printable A4 sticker sheets.")
@click.option("--border", type=click.FloatRange(0, 64), default=2.0, show_default=True,
              help="Sticker border width in sprite pixels.")
@click.option("--border-color", default="#ffffff", show_default=True, help="Sticker border colour.")
@click.option("--shadow/--no-shadow", default=False, show_default=True,
              help="Add a drop shadow to stickers (for screens; leave off for printing).")
@click.option("--sheet/--no-sheet", default=True, show_default=True,
              help="Write a sprite sheet PNG with a TexturePacker JSON-hash atlas.")
@click.option("--padding", type=click.IntRange(0, 256), default=2, show_default=True,
              help="Transparent pixels around each frame on the sheet.")
@click.option("--pot/--no-pot", default=False, show_default=True,
              help="Round the sheet size up to powers of two.")
@click.option("--columns", type=click.IntRange(0, 4096), default=0, show_default=True,
              help="Frames per sheet row; 0 picks a near-square sheet.")
@click.option("--trim/--no-trim", default=False, show_default=True,
              help="Trim transparent borders off frames (the atlas records the offsets).")
@click.option("--gif/--no-gif", default=True, show_default=True, help="Write an animated GIF of the frames.")
@click.option("--fps", type=click.FloatRange(0.1, 100), default=8.0, show_default=True,
              help="Frames per second of the GIF.")
@click.option("--tileset", is_flag=False, flag_value="xy", default=None, metavar="[xy|x|y]",
              help="The sprites are tiles that wrap (xy when given bare; x or y one way): also "
                   "write a 3x3 preview of each, tileset.png + tileset.tsx for Tiled and "
                   "tilemap.json for Tiled and Phaser's tilemap loader (docs/tiles.md).")
def export(input_dir, out_dir, **options) -> None:
    """Turn the sprites in INPUT (PNG, JPEG, GIF, WebP, BMP, TGA, TIFF) into game-ready assets
    under --out.

    Class and seed come from a sprites.json beside the images when present. Images without
    alpha get their uniform border colour keyed out as background. Alpha is kept as drawn (soft
    shadows included; --alpha-threshold T makes it hard at T); --finish auto, or any of
    --palette, --max-colors, --shared-palette, --outline, also runs the finishing
    stage that generate uses.
    """
    from ldm_sprites.export import ExportOptions, export_sprites, scan_sprite_folder
    from ldm_sprites.fsutil import ensure_dir

    from ldm_sprites.cli.finish_options import to_finish_options

    finishing = to_finish_options(options, default_mode="none")
    export_options = ExportOptions(finishing=finishing, **options)
    export_options.validate()  # before reading images, so a bad option fails fast
    ensure_dir(out_dir)  # likewise an unwritable --out
    scan = scan_sprite_folder(input_dir)
    if scan.skipped:
        why = f" (e.g. {scan.unreadable[0]})" if scan.unreadable else ""
        click.echo(f"Skipped {_plural(len(scan.skipped), 'file')} that are not readable images: "
                   f"{_names(scan.skipped)}{why}.")
    if scan.keyed:
        click.echo(
            f"No alpha in {_plural(len(scan.keyed), 'image')}: treated the uniform border colour "
            f"as background ({_names(scan.keyed)})."
        )
    if scan.opaque:
        click.echo(
            f"No alpha and no uniform border colour in {_plural(len(scan.opaque), 'image')}: "
            f"exported fully opaque ({_names(scan.opaque)})."
        )
    if not scan.sprites:
        from ldm_sprites.errors import UserError

        raise UserError(
            f"no sprites in {input_dir}: put PNG, JPEG, GIF, WebP, BMP, TGA or TIFF images there "
            f"({_plural(len(scan.skipped), 'other file')} skipped)"
        )
    manifest = export_sprites(scan.sprites, out_dir, export_options, progress=True)
    click.echo(f"Exported {_plural(len(scan.sprites), 'sprite')} to {out_dir}:")
    for kind, count in manifest["counts"].items():
        click.echo(f"  {_plural(count, _KIND_LABELS.get(kind, kind))}")
    click.echo("  manifest.json lists every file with its class, seed and source sprite.")
