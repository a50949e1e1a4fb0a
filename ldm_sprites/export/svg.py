"""Tracing sprites to SVG with vtracer's in-memory API, and assembling SVG documents.

A few things about vtracer shape this module:
- It only treats transparent pixels as "nothing" when enough of the image edge is transparent
  (otherwise it traces them as black). We pad the image with a 1-pixel transparent frame, which
  always triggers that keying, and undo the offset with a translate(-1,-1).
- It merges small clusters of similar colours (two greys 32 levels apart, say) into one path
  with their average colour. We therefore trace a stand-in image in which each distinct colour
  is swapped for one of a set of far-apart "proxy" colours, then swap the colours back in the
  SVG, so merged colours never meet and every path keeps an exact original colour.
- ``mode='none'`` gives pixel-exact polygons; ``'spline'`` fits curves but, on tiny pixel art,
  swallows single pixels and rounds shapes away. Spline mode therefore traces a Scale2x x4
  version of the sprite, which keeps small features and gives the curves smoothed diagonals.
- It draws every pixel with alpha >= 1 fully opaque. Soft alpha (``export --alpha-threshold 0``)
  is therefore traced one alpha level at a time, each level a group with that opacity.

Die-cut outlines are not traced by vtracer at all: its splines sit up to half a pixel outside a
rasterised curve. ``contour_path`` follows the anti-aliased coverage the sticker PNG is drawn
from, at sub-pixel precision, so the SVG and PNG outlines agree.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

import numpy as np
import vtracer
from contourpy import LineType, contour_generator
from PIL import Image

from ldm_sprites.finish.snap import unique_colors
from ldm_sprites.export.upscale import scale2x

_PATH = re.compile(r"<path\b[^>]*/>")
_EMPTY_D = re.compile(r'\sd="\s*"')
_FILL_HEX = re.compile(r'fill="#([0-9A-Fa-f]{6})"')

# Options that make mode 'none' reproduce every pixel: no speckle filter, full colour precision.
_PIXEL_OPTIONS = dict(
    colormode="color", hierarchical="stacked", mode="none",
    filter_speckle=0, color_precision=8, layer_difference=0,
)
_SPLINE_OPTIONS = dict(
    colormode="color", hierarchical="stacked", mode="spline",
    filter_speckle=0, color_precision=8, layer_difference=0,
    corner_threshold=90, length_threshold=4.0, splice_threshold=45, path_precision=3,
)
SPLINE_OVERSAMPLE = 4  # Scale2x twice before spline tracing; see the module docstring


@dataclass
class Trace:
    """Paths in sprite-pixel coordinates: ``body`` is a <g> element to place in any SVG."""

    body: str
    width: int
    height: int


def proxy_palette(k: int) -> np.ndarray:
    """``k`` colours spread over an RGB grid, consecutive ones far apart (see the docstring)."""
    levels = max(2, math.ceil(k ** (1 / 3) - 1e-9))
    steps = np.round(np.linspace(0, 255, levels)).astype(np.int64)
    grid = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    n = len(grid)
    # A stride coprime with n visits every grid colour once and jumps far between neighbours.
    stride = next((s for s in range(n // 2 + 1, n) if math.gcd(s, n) == 1), 1)
    return grid[(np.arange(k) * stride) % n]


def trace_paths(rgba: np.ndarray, mode: str) -> list[str]:
    """vtracer's <path/> elements for ``rgba`` (pixel coordinates shifted by +1, see docstring)."""
    options = _PIXEL_OPTIONS if mode == "none" else _SPLINE_OPTIONS
    visible = rgba[..., 3] > 0
    colors, inverse = unique_colors(rgba[..., :3])
    proxies = proxy_palette(len(colors))
    stand_in = rgba.copy()
    stand_in[..., :3] = proxies[inverse].reshape(rgba.shape[:2] + (3,))
    stand_in[~visible] = 0
    padded = np.pad(stand_in, ((1, 1), (1, 1), (0, 0)))
    # Hand vtracer a fast, lightly compressed in-memory PNG: building its other input, a list of
    # per-pixel tuples, costs ten times more than the tracing itself.
    buffer = io.BytesIO()
    Image.fromarray(padded, "RGBA").save(buffer, format="PNG", compress_level=1)
    svg = vtracer.convert_raw_image_to_svg(buffer.getvalue(), img_format="png", **options)

    def original(match: re.Match) -> str:
        traced = np.array([int(match.group(1)[i : i + 2], 16) for i in (0, 2, 4)])
        nearest = int(np.argmin(((proxies - traced) ** 2).sum(axis=1)))
        return 'fill="#{:02X}{:02X}{:02X}"'.format(*colors[nearest])

    return [_FILL_HEX.sub(original, p) for p in _PATH.findall(svg) if not _EMPTY_D.search(p)]


def trace_layers(rgba: np.ndarray, mode: str) -> list[str]:
    """``trace_paths`` for any alpha: each soft-alpha level is traced on its own, opaque, and
    drawn as a group with that opacity (vtracer's stacked shapes overlap within a level, so a
    group, not each path, must carry it)."""
    alpha = rgba[..., 3]
    levels = np.unique(alpha[alpha > 0])
    if (levels == 255).all():
        return trace_paths(rgba, mode)
    elements = []
    for level in levels.tolist():
        layer = np.where((alpha == level)[..., None], rgba, 0).astype(np.uint8)
        layer[..., 3] = np.where(alpha == level, 255, 0)
        paths = trace_paths(layer, mode)
        if level == 255:
            elements += paths
        elif paths:
            elements.append(f'<g opacity="{level / 255:.4g}">\n' + "\n".join(paths) + "\n</g>")
    return elements


def trace_sprite(rgba: np.ndarray, svg_mode: str = "pixel") -> Trace:
    """Trace a sprite; the result's coordinates are sprite pixels (0..W, 0..H)."""
    height, width = rgba.shape[:2]
    if svg_mode == "pixel":
        paths, scale = trace_layers(rgba, "none"), 1
    else:
        paths, scale = trace_layers(scale2x(rgba, SPLINE_OVERSAMPLE), "spline"), SPLINE_OVERSAMPLE
    transform = "translate(-1,-1)" if scale == 1 else f"scale({1 / scale:g}) translate(-1,-1)"
    body = f'<g transform="{transform}">\n' + "\n".join(paths) + "\n</g>"
    return Trace(body=body, width=width, height=height)


def _simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker: the points of a polyline (N, 2) that keep it within ``tolerance``."""
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    spans = [(0, len(points) - 1)]
    while spans:
        a, b = spans.pop()
        if b - a < 2:
            continue
        chord, rel = points[b] - points[a], points[a + 1 : b] - points[a]
        length = math.hypot(*chord)
        if length > 0:
            distance = np.abs(chord[0] * rel[:, 1] - chord[1] * rel[:, 0]) / length
        else:
            distance = np.hypot(rel[:, 0], rel[:, 1])
        i = int(np.argmax(distance))
        if distance[i] > tolerance:
            keep[a + 1 + i] = True
            spans += [(a, a + 1 + i), (a + 1 + i, b)]
    return points[keep]


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def contour_path(coverage: np.ndarray, level: float = 0.5, tolerance: float = 0.1) -> str:
    """The outline where ``coverage`` crosses ``level`` as one unfilled <path/>, in its pixel
    coordinates: marching squares between pixel centres (sub-pixel exact), simplified to within
    ``tolerance`` pixels. Empty when nothing reaches ``level``."""
    padded = np.pad(coverage.astype(np.float64), 1)  # every contour closes inside the padding
    rings = []
    for line in contour_generator(z=padded, line_type=LineType.Separate).lines(level):
        points = _simplify(line, tolerance) - 0.5  # padded index -> pixel-centre coordinates
        if len(points) >= 4:
            rings.append("M" + " L".join(f"{_num(x)},{_num(y)}" for x, y in points[:-1]) + " Z")
    return f'<path d="{" ".join(rings)}"/>' if rings else ""


def svg_document(body: str, width: float, height: float, view_box: tuple, crisp: bool) -> str:
    """A standalone SVG file. ``crisp`` asks renderers not to anti-alias (pixel mode)."""
    vb = " ".join(f"{v:g}" for v in view_box)
    rendering = ' shape-rendering="crispEdges"' if crisp else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width:g}" height="{height:g}" '
        f'viewBox="{vb}"{rendering}>\n{body}\n</svg>\n'
    )


def sprite_svg(trace: Trace, scale: int, svg_mode: str) -> str:
    """The sprite as an SVG file: viewBox is the sprite, width/height the upscaled size."""
    return svg_document(
        trace.body,
        trace.width * scale,
        trace.height * scale,
        (0, 0, trace.width, trace.height),
        crisp=svg_mode == "pixel",
    )
