"""Die-cut stickers: a border of configurable width around the alpha silhouette, an optional
drop shadow, as PNG and SVG, plus printable sheets of stickers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from ldm_sprites.export.svg import Trace, contour_path, svg_document

SHADOW_OPACITY = 0.35
PRINT_DPI = 300
A4_PX = (2480, 3508)  # A4 portrait at 300 dpi
PAGE_MARGIN_PX = 150  # 1/2 inch: inside the unprintable edge of most printers
GAP_PX = 30  # 1/10 inch between stickers so a cutter blade has room
CUT_LINE_PX = 2
CUT_LINE_RGBA = (190, 190, 190, 255)


@dataclass
class StickerLayout:
    """Where a sprite sits on its sticker canvas; all sizes in output pixels."""

    border_px: float
    margin: int
    shadow_offset: int
    shadow_sigma: float
    width: int
    height: int


def layout_sticker(sprite_hw: tuple[int, int], border_px: float, shadow: bool) -> StickerLayout:
    offset = max(1, round(border_px / 2)) if shadow else 0
    sigma = max(1.0, border_px / 2) if shadow else 0.0
    # Room for the border, its anti-aliased edge and (if any) the blurred, offset shadow.
    margin = math.ceil(border_px) + 1 + (offset + math.ceil(3 * sigma) if shadow else 0)
    h, w = sprite_hw
    return StickerLayout(border_px, margin, offset, sigma, w + 2 * margin, h + 2 * margin)


def border_coverage(alpha: np.ndarray, layout: StickerLayout) -> np.ndarray:
    """Coverage 0..1 of the die-cut shape on the sticker canvas.

    The silhouette is dilated by a disk of radius ``border_px`` (a Euclidean distance transform
    is an exact disk of any radius, and fast), with a one-pixel anti-aliased edge. Holes are
    filled because a die-cut sticker is cut along its outer contour only.
    """
    m = layout.margin
    mask = np.zeros((layout.height, layout.width), dtype=bool)
    mask[m : m + alpha.shape[0], m : m + alpha.shape[1]] = alpha > 0
    distance = ndimage.distance_transform_edt(~mask)
    cut = distance <= layout.border_px
    holes = ndimage.binary_fill_holes(cut) & ~cut
    if holes.any():  # make the holes part of the silhouette, so only the outer edge gets a rim
        distance = ndimage.distance_transform_edt(~(mask | holes))
    coverage = np.clip(layout.border_px + 0.5 - distance, 0.0, 1.0)
    coverage[mask] = 1.0
    return coverage


def _layer(rgba_color: tuple[int, int, int, int], coverage: np.ndarray) -> Image.Image:
    layer = np.zeros(coverage.shape + (4,), dtype=np.uint8)
    layer[..., :3] = rgba_color[:3]
    layer[..., 3] = np.round(coverage * rgba_color[3]).astype(np.uint8)
    return Image.fromarray(layer, "RGBA")


def sticker_png(
    upscaled: np.ndarray, layout: StickerLayout, border_rgba: tuple, shadow: bool
) -> tuple[Image.Image, np.ndarray]:
    """The sticker image and its die-cut coverage (reused for the SVG outline)."""
    coverage = border_coverage(upscaled[..., 3], layout)
    canvas = Image.new("RGBA", (layout.width, layout.height), (0, 0, 0, 0))
    if shadow:
        o = layout.shadow_offset
        shifted = np.zeros_like(coverage)
        shifted[o:, o:] = coverage[: coverage.shape[0] - o, : coverage.shape[1] - o]
        shade = _layer((0, 0, 0, round(255 * SHADOW_OPACITY)), shifted)
        canvas.alpha_composite(shade.filter(ImageFilter.GaussianBlur(layout.shadow_sigma)))
    if layout.border_px > 0:
        canvas.alpha_composite(_layer(border_rgba, coverage))
    canvas.alpha_composite(Image.fromarray(upscaled, "RGBA"), (layout.margin, layout.margin))
    return canvas, coverage


def _hex(rgba: tuple) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def sticker_svg(
    trace: Trace, scale: int, layout: StickerLayout, coverage: np.ndarray,
    border_rgba: tuple, shadow: bool, crisp: bool,
) -> str:
    """The sticker as SVG: traced die-cut outline (and shadow) under the traced sprite."""
    parts = []
    # The PNG's own outline (coverage 0.5), so the cut line of the SVG and the PNG agree.
    outline = contour_path(coverage) if layout.border_px > 0 or shadow else ""
    if shadow:
        o, s = layout.shadow_offset, layout.shadow_sigma
        parts.append(
            '<defs><filter id="shadow" x="-25%" y="-25%" width="150%" height="150%">'
            f'<feGaussianBlur stdDeviation="{s:g}"/></filter></defs>\n'
            f'<g transform="translate({o},{o})" fill="#000000" fill-opacity="{SHADOW_OPACITY:g}" '
            f'filter="url(#shadow)">\n{outline}\n</g>'
        )
    if layout.border_px > 0:
        opacity = f' fill-opacity="{border_rgba[3] / 255:.3g}"' if border_rgba[3] < 255 else ""
        parts.append(f'<g fill="{_hex(border_rgba)}"{opacity}>\n{outline}\n</g>')
    # Only the sprite layer is drawn crisp; the outline is a curve and should stay smooth.
    rendering = ' shape-rendering="crispEdges"' if crisp else ""
    m = layout.margin
    parts.append(f'<g transform="translate({m},{m}) scale({scale})"{rendering}>\n{trace.body}\n</g>')
    return svg_document(
        "\n".join(parts), layout.width, layout.height, (0, 0, layout.width, layout.height), crisp=False
    )


def _with_cut_line(sticker: Image.Image, cut: np.ndarray) -> Image.Image:
    """The sticker with a thin grey line just outside its die-cut contour, drawn on the sheet
    only: a white border is invisible on white paper, and scissors need something to follow."""
    line = ndimage.binary_dilation(cut, iterations=CUT_LINE_PX) & ~cut
    framed = _layer(CUT_LINE_RGBA, line.astype(float))
    framed.alpha_composite(sticker)
    return framed


def sticker_sheets(stickers: list[Image.Image], cuts: list[np.ndarray]) -> list[Image.Image]:
    """A4 pages at 300 dpi with stickers in a grid, white background, as few pages as fit.

    ``cuts`` are the die-cut masks (coverage >= 0.5) of each sticker, for the cut lines.
    """
    if not stickers:
        return []
    cell_w = max(s.width for s in stickers) + GAP_PX
    cell_h = max(s.height for s in stickers) + GAP_PX
    # A sticker larger than the printable area gets a page of its own size rather than being
    # resampled, which would blur the pixel art.
    page_w = max(A4_PX[0], cell_w + 2 * PAGE_MARGIN_PX)
    page_h = max(A4_PX[1], cell_h + 2 * PAGE_MARGIN_PX)
    cols = max(1, (page_w - 2 * PAGE_MARGIN_PX + GAP_PX) // cell_w)
    rows = max(1, (page_h - 2 * PAGE_MARGIN_PX + GAP_PX) // cell_h)
    pages = []
    for start in range(0, len(stickers), cols * rows):
        page = Image.new("RGBA", (page_w, page_h), (255, 255, 255, 255))
        batch = zip(stickers[start : start + cols * rows], cuts[start : start + cols * rows])
        for i, (sticker, cut) in enumerate(batch):
            x = PAGE_MARGIN_PX + (i % cols) * cell_w + (cell_w - GAP_PX - sticker.width) // 2
            y = PAGE_MARGIN_PX + (i // cols) * cell_h + (cell_h - GAP_PX - sticker.height) // 2
            page.alpha_composite(_with_cut_line(sticker, cut), (x, y))
        pages.append(page.convert("RGB"))
    return pages
