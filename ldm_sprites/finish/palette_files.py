"""Palette files: read a user's GIMP ``.gpl``, ``.hex``/``.txt`` list or PNG swatch; write the
``.gpl``/``.hex`` exports and a swatch image.

Palettes are (K, 3) uint8 arrays. Every problem with a file is one ``UserError`` line naming the
file (and the line) and what is accepted.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from ldm_sprites.errors import UserError
from ldm_sprites.runtime import IMAGE_SUFFIXES

MAX_PALETTE = 256
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
# Swatch images: any image file but JPEG, whose lossy compression invents colours near each
# real one, so its pixels are not a palette.
SWATCH_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s not in (".jpg", ".jpeg"))


def _parse_gpl(path: Path, lines: list[str]) -> list[tuple[int, int, int]]:
    if not lines or lines[0].strip() != "GIMP Palette":
        raise UserError(f"{path} is not a GIMP palette: the first line must be 'GIMP Palette'")
    colors = []
    for number, line in enumerate(lines[1:], start=2):
        text = line.strip()
        if not text or text.startswith("#") or re.match(r"^(Name|Columns)\s*:", text):
            continue
        parts = text.split()
        try:
            rgb = tuple(int(v) for v in parts[:3])
        except ValueError:
            rgb = ()
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise UserError(f"{path} line {number}: expected 'R G B [name]' with 0..255, got {text!r}")
        colors.append(rgb)
    return colors


def _parse_hex(path: Path, lines: list[str]) -> list[tuple[int, int, int]]:
    colors = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith(";"):  # Paint.NET .txt palettes comment with ';'
            continue
        if len(text) == 8 and re.fullmatch(r"[0-9a-fA-F]{8}", text):
            text = text[2:]  # Paint.NET writes AARRGGBB
        match = _HEX.match(text)
        if match is None:
            raise UserError(f"{path} line {number}: expected a colour like 'ff8800', got {text!r}")
        value = match.group(1)
        colors.append(tuple(int(value[i : i + 2], 16) for i in (0, 2, 4)))
    return colors


def _parse_swatch(path: Path) -> list[tuple[int, int, int]]:
    """Unique opaque colours of an image, in reading order (so the file's order is kept)."""
    from ldm_sprites.data.images import ImageDecodeError, open_image, to_rgba

    try:
        with open_image(path) as image:
            rgba = to_rgba(image).reshape(-1, 4)
    except ImageDecodeError as exc:
        raise UserError(f"cannot read palette image {path}: {exc}; is it a valid PNG?") from None
    opaque = rgba[rgba[:, 3] >= 128, :3]
    _, first = np.unique(opaque, axis=0, return_index=True)
    return [tuple(int(v) for v in opaque[i]) for i in sorted(first)]


def load_palette(path) -> np.ndarray:
    """Read a GIMP .gpl, a .hex/.txt list (one 'rrggbb' a line) or an image swatch -> (K, 3) uint8."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"palette file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in SWATCH_SUFFIXES:
        colors = _parse_swatch(path)
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read palette file {path}: {exc}") from None
        if suffix == ".gpl" or (lines and lines[0].strip() == "GIMP Palette"):
            colors = _parse_gpl(path, lines)
        elif suffix in (".hex", ".txt"):
            colors = _parse_hex(path, lines)
        else:
            raise UserError(f"unknown palette format {path.name}: use a .gpl, .hex, .txt or .png file")
    if not colors:
        raise UserError(f"palette file {path} holds no colours")
    if len(colors) > MAX_PALETTE:
        raise UserError(f"palette file {path} holds {len(colors)} colours; use at most {MAX_PALETTE}")
    return np.array(colors, dtype=np.uint8)


def hex_text(colors: np.ndarray) -> str:
    """One 'rrggbb' a line (Lospec's .hex format)."""
    return "".join("{:02x}{:02x}{:02x}\n".format(*c) for c in np.asarray(colors).tolist())


def gpl_text(colors: np.ndarray, name: str) -> str:
    """A GIMP palette (also read by Aseprite, Krita and Inkscape)."""
    rows = "".join("{:3d} {:3d} {:3d}\t#{:02x}{:02x}{:02x}\n".format(*c, *c)
                   for c in np.asarray(colors).tolist())
    return f"GIMP Palette\nName: {name}\nColumns: 16\n#\n{rows}"


def swatch_image(colors: np.ndarray, cell: int = 16, columns: int = 16) -> Image.Image:
    """The palette as a grid of ``cell``-pixel squares, ``columns`` a row, in palette order."""
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    columns = max(1, min(columns, len(colors)))
    rows = -(-len(colors) // columns)
    grid = np.zeros((rows, columns, 4), np.uint8)
    flat = grid.reshape(-1, 4)
    flat[: len(colors), :3] = colors
    flat[: len(colors), 3] = 255
    return Image.fromarray(np.repeat(np.repeat(grid, cell, 0), cell, 1), "RGBA")
