"""Tiles for map editors and engines: a 3 x 3 preview of each tile, a tileset image with a Tiled
``.tsx`` tileset, and a small Tiled JSON map that Phaser's tilemap loader reads as it is.

Tiled (mapeditor.org) reads the external tileset ``tileset.tsx`` (``<tileset>`` with
``tilewidth``, ``tileheight``, ``tilecount``, ``columns`` and an ``<image>``) and the map
``tilemap.json``; Phaser 3 cannot read external tilesets, so the map embeds the same tileset:

    this.load.image('tiles', 'tileset.png');
    this.load.tilemapTiledJSON('map', 'tilemap.json');
    const map = this.make.tilemap({ key: 'map' });
    map.createLayer('tiles', map.addTilesetImage('tileset', 'tiles'));

The tileset keeps the tiles at their own size (a 32 x 32 tile is 32 x 32 there; scale the layer
in the engine, ``pixelArt: true``), in rows of ``columns`` with no margin or spacing, so grid
slicers (Godot, Unity, ``load.spritesheet``) cut it too. Each tile carries its class as a
``class`` property. The map lays every tile out as a 3 x 3 block: the seams in context.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from ldm_sprites.errors import UserError
from ldm_sprites.export.manifest import Manifest
from ldm_sprites.export.sprites import Sprite
from ldm_sprites.export.upscale import upscale
from ldm_sprites.fsutil import atomic_save_image, atomic_write_json, atomic_write_text, ensure_dir

TILESET_NAME = "tileset"
TILED_VERSION = "1.10"       # the TSX/JSON format version written (Tiled 1.10 and later read it)
PREVIEW_REPEAT = 3


def tile_preview(rgba: np.ndarray, axes: str = "xy", repeat: int = PREVIEW_REPEAT) -> np.ndarray:
    """The tile repeated ``repeat`` times along each axis of ``axes`` (3 x 3 for 'xy'): where a
    seam shows, it shows here."""
    ry = repeat if "y" in axes else 1
    rx = repeat if "x" in axes else 1
    return np.tile(np.asarray(rgba), (ry, rx, 1))


def tileset_columns(n: int) -> int:
    """Columns of a near-square tileset of ``n`` tiles."""
    return max(1, math.ceil(math.sqrt(n)))


def tileset_image(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of one size in rows of ``columns``, no margin or spacing, transparent elsewhere."""
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    sheet = np.zeros((rows * h, columns * w, 4), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = t
    return sheet


def tsx_document(name: str, image: str, tile_w: int, tile_h: int, count: int, columns: int,
                 image_w: int, image_h: int, classes: list[str | None]) -> str:
    """A Tiled external tileset (TSX): one image, ``count`` tiles of tile_w x tile_h."""
    root = ET.Element("tileset", {
        "version": TILED_VERSION, "name": name, "tilewidth": str(tile_w),
        "tileheight": str(tile_h), "spacing": "0", "margin": "0", "tilecount": str(count),
        "columns": str(columns)})
    ET.SubElement(root, "image", {"source": image, "width": str(image_w),
                                  "height": str(image_h)})
    for i, cls in enumerate(classes):
        if cls:
            tile = ET.SubElement(root, "tile", {"id": str(i)})
            props = ET.SubElement(tile, "properties")
            ET.SubElement(props, "property", {"name": "class", "value": cls})
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _tileset_json(name: str, image: str, tile_w: int, tile_h: int, count: int, columns: int,
                  image_w: int, image_h: int, classes: list[str | None]) -> dict:
    tiles = [{"id": i, "properties": [{"name": "class", "type": "string", "value": c}]}
             for i, c in enumerate(classes) if c]
    return {"firstgid": 1, "name": name, "image": image, "imagewidth": image_w,
            "imageheight": image_h, "tilewidth": tile_w, "tileheight": tile_h, "tilecount": count,
            "columns": columns, "margin": 0, "spacing": 0, "tiles": tiles}


def tilemap_json(tileset: dict, columns: int, repeat: int = PREVIEW_REPEAT) -> dict:
    """A Tiled JSON map (orthogonal, one tile layer 'tiles') with ``tileset`` embedded: tile k
    fills a repeat x repeat block, the blocks in rows of ``columns``."""
    count = tileset["tilecount"]
    rows = math.ceil(count / columns)
    width, height = columns * repeat, rows * repeat
    data = [0] * (width * height)
    for k in range(count):
        r, c = divmod(k, columns)
        for dy in range(repeat):
            for dx in range(repeat):
                data[(r * repeat + dy) * width + c * repeat + dx] = tileset["firstgid"] + k
    return {"type": "map", "version": TILED_VERSION, "orientation": "orthogonal",
            "renderorder": "right-down", "infinite": False, "width": width, "height": height,
            "tilewidth": tileset["tilewidth"], "tileheight": tileset["tileheight"],
            "nextlayerid": 2, "nextobjectid": 1, "compressionlevel": -1,
            "layers": [{"id": 1, "name": "tiles", "type": "tilelayer", "x": 0, "y": 0,
                        "width": width, "height": height, "opacity": 1, "visible": True,
                        "data": data}],
            "tilesets": [tileset]}


def export_tileset(sprites: list[Sprite], out_dir, axes: str = "xy", preview_scale: int = 4,
                   columns: int = 0, manifest: Manifest | None = None) -> list[Path]:
    """Write ``preview/NAME.png`` (each tile 3 x 3 along ``axes``, x ``preview_scale``),
    ``tileset.png``, ``tileset.tsx`` and ``tilemap.json`` under ``out_dir``, recorded in
    ``manifest`` when given (``export_sprites`` passes its own). All tiles must have one size.
    Returns the paths written."""
    if not sprites:
        raise UserError("no tiles to export")
    sizes = {s.rgba.shape[:2] for s in sprites}
    if len(sizes) != 1:
        raise UserError("a tileset needs tiles of one size; got "
                        + ", ".join(f"{w}x{h}" for h, w in sorted(sizes)))
    (tile_h, tile_w), = sizes
    out = ensure_dir(out_dir)
    written: list[tuple[Path, str, list[Sprite]]] = []
    for s in sprites:
        big = upscale(tile_preview(s.rgba, axes), preview_scale, "nearest")
        path = atomic_save_image(out / "preview" / f"{s.name}.png", Image.fromarray(big, "RGBA"))
        written.append((path, "tile-preview", [s]))
    columns = columns or tileset_columns(len(sprites))
    sheet = tileset_image([s.rgba for s in sprites], columns)
    png = atomic_save_image(out / f"{TILESET_NAME}.png", Image.fromarray(sheet, "RGBA"))
    classes = [s.class_name for s in sprites]
    layout = (TILESET_NAME, png.name, tile_w, tile_h, len(sprites), columns, sheet.shape[1],
              sheet.shape[0], classes)
    tsx = atomic_write_text(out / f"{TILESET_NAME}.tsx", tsx_document(*layout))
    tmj = atomic_write_json(out / "tilemap.json", tilemap_json(_tileset_json(*layout), columns))
    written += [(png, "tileset", sprites), (tsx, "tileset-tsx", sprites),
                (tmj, "tilemap", sprites)]
    if manifest is not None:
        for path, kind, which in written:
            manifest.add_file(path, kind, which)
    return [p for p, _, _ in written]

