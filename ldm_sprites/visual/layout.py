"""Building blocks for the visual outputs: sprite panels on a checkerboard, labels, tables, GIFs.

Everything becomes an opaque RGB image: transparency is shown on a checkerboard (so a noisy alpha
channel is visible at all), and opaque frames let the GIF use one shared 255-colour palette.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ldm_sprites.image_files import checkerboard, make_grid

INK = (32, 32, 32)
PAPER = (255, 255, 255)
GAP = 4


def display_scale(size: int, target: int = 64) -> int:
    """Nearest-neighbour zoom so a sprite is about ``target`` pixels wide (never below 1)."""
    return max(1, target // max(1, size))


def panel(sprites: np.ndarray, nrow: int | None = None, scale: int = 1) -> Image.Image:
    """(N, H, W, 4) uint8 RGBA -> an RGB grid with transparency shown on a checkerboard."""
    grid = make_grid(sprites, nrow=nrow, pad=1, scale=scale, background=(255, 255, 255, 255))
    return checkerboard(grid, cell=max(2, 4 * scale)).convert("RGB")


def _font():
    return ImageFont.load_default()


def text_size(text: str) -> tuple[int, int]:
    box = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=_font())
    return box[2] - box[0], box[3] - box[1]


def text_image(text: str, width: int | None = None, align: str = "center") -> Image.Image:
    """One line of dark text on white, ``width`` wide (default: just fits)."""
    tw, th = text_size(text)
    w = max(width or 0, tw + 2 * GAP)
    img = Image.new("RGB", (w, th + 2 * GAP), PAPER)
    x = (w - tw) // 2 if align == "center" else GAP
    ImageDraw.Draw(img).text((x, GAP), text, fill=INK, font=_font())
    return img


def _stack(images: list[Image.Image], gap: int, vertical: bool) -> Image.Image:
    """Images one after another (centred across), on white."""
    along = [im.height if vertical else im.width for im in images]
    across = max(im.width if vertical else im.height for im in images)
    length = sum(along) + gap * (len(images) - 1)
    out = Image.new("RGB", (across, length) if vertical else (length, across), PAPER)
    pos = 0
    for im, n in zip(images, along):
        off = (across - (im.width if vertical else im.height)) // 2
        out.paste(im, (off, pos) if vertical else (pos, off))
        pos += n + gap
    return out


def vstack(images: list[Image.Image], gap: int = GAP) -> Image.Image:
    return _stack(images, gap, vertical=True)


def hstack(images: list[Image.Image], gap: int = GAP) -> Image.Image:
    return _stack(images, gap, vertical=False)


def titled(image: Image.Image, title: str) -> Image.Image:
    return vstack([text_image(title, image.width), image], gap=0)


def table(cells: list[list[Image.Image]], row_labels: list[str], col_labels: list[str],
          title: str | None = None) -> Image.Image:
    """A labelled grid of images: ``cells[r][c]``; columns as wide as their widest cell."""
    col_w = [max(cells[r][c].width for r in range(len(cells))) for c in range(len(col_labels))]
    label_w = max(text_size(s)[0] for s in row_labels) + 2 * GAP
    header = [text_image("", label_w)] + [text_image(s, w) for s, w in zip(col_labels, col_w)]
    rows = [hstack(header)]
    for r, label in enumerate(row_labels):
        h = max(im.height for im in cells[r])
        lab = Image.new("RGB", (label_w, h), PAPER)
        lab.paste(text_image(label, label_w, align="left"), (0, (h - text_size(label)[1]) // 2 - GAP))
        padded = []
        for c, im in enumerate(cells[r]):
            box = Image.new("RGB", (col_w[c], h), PAPER)
            box.paste(im, ((col_w[c] - im.width) // 2, (h - im.height) // 2))
            padded.append(box)
        rows.append(hstack([lab] + padded))
    out = vstack(rows)
    return titled(out, title) if title else out


def pick_evenly(n: int, k: int) -> list[int]:
    """``k`` indices spread over range(n), always including the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def save_gif(path: str | Path, frames: list[Image.Image], fps: float = 8.0,
             hold_last: int = 6) -> Path:
    """Animated GIF with one palette shared by all frames (no colour flicker); the last frame is
    shown ``hold_last`` times longer so the end state can be read before the loop restarts."""
    from ldm_sprites.fsutil import atomic_save_image

    w = max(f.width for f in frames)
    h = max(f.height for f in frames)
    canvases = []
    for f in frames:
        c = Image.new("RGB", (w, h), PAPER)
        c.paste(f, (0, 0))
        canvases.append(c)
    # The palette comes from a sample of frames spread over the animation (median cut).
    sample = [canvases[i] for i in pick_evenly(len(canvases), 6)]
    strip = Image.fromarray(np.concatenate([np.asarray(c) for c in sample], 0), "RGB")
    palette = strip.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indexed = [c.quantize(palette=palette, dither=Image.Dither.NONE) for c in canvases]
    step = max(20, round(1000 / fps / 10) * 10)  # GIF stores centiseconds
    durations = [step] * len(indexed)
    durations[-1] = step * max(1, hold_last)
    return atomic_save_image(path, indexed[0], save_all=True, append_images=indexed[1:],
                             duration=durations, loop=0, optimize=False, disposal=1)


def strip_path(gif_path: str | Path) -> Path:
    """``reverse.gif`` -> ``reverse-strip.png`` (the still version of an animation)."""
    p = Path(gif_path)
    return p.with_name(p.stem + "-strip.png")
