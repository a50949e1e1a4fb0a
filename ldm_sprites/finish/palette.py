"""A model's palette and the data statistics the finisher needs, computed once from the training
sprites and saved in the model directory.

``palette.json`` holds the colours (most used first) and: ``alpha_threshold`` (the cut that keeps
the data's visible area), ``colors_per_sprite`` (the data's 90th percentile of palette colours per
sprite) and ``outline_color`` (the data's most common edge colour). ``palette.gpl`` and
``palette.hex`` are the same colours for GIMP/Aseprite and Lospec-style tools.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ldm_sprites.errors import UserError
from ldm_sprites.finish import palette_files
from ldm_sprites.finish.snap import pack_rgb, snap_indices, sprite_counts, unpack_rgb
from ldm_sprites.finish.speckle import isolated_shares

PALETTE_JSON = "palette.json"
PALETTE_GPL = "palette.gpl"
PALETTE_HEX = "palette.hex"
PALETTE_FILES = (PALETTE_JSON, PALETTE_GPL, PALETTE_HEX)
COVERAGE = 0.99        # share of opaque pixels the palette must cover ...
TOLERANCE = 8          # ... within this many levels on every channel (half of what reads as equal)
LIMIT_PERCENTILE = 90  # colours per sprite: the data's 90th percentile
MAX_SPRITES = 2048     # statistics from at most this many sprites (evenly spaced): seconds, not minutes
MAX_CANDIDATES = 16384  # most frequent distinct colours considered when clustering


@dataclass
class PaletteInfo:
    """A palette plus the data statistics finishing uses. ``colors`` is (K, 3) uint8."""

    colors: np.ndarray
    alpha_threshold: int = 128
    colors_per_sprite: int | None = None
    outline_color: tuple[int, int, int] | None = None
    source: str = "training data"
    stats: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["colors"] = ["#" + palette_files.hex_text(c[None]).strip() for c in self.colors]
        d["outline_color"] = None if self.outline_color is None else \
            "#{:02x}{:02x}{:02x}".format(*self.outline_color)
        return {"version": 1, **d}

    @classmethod
    def from_json(cls, d: dict, where: str) -> "PaletteInfo":
        try:
            colors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in d["colors"]],
                              dtype=np.uint8).reshape(-1, 3)
            outline = d.get("outline_color")
            info = cls(colors, int(d.get("alpha_threshold", 128)), d.get("colors_per_sprite"),
                       None if outline is None else tuple(int(outline[i:i + 2], 16) for i in (1, 3, 5)),
                       str(d.get("source", "training data")), dict(d.get("stats", {})))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError(f"{where} is damaged (expected a palette.json written by training); "
                            "delete it to fall back to a palette from the output") from None
        if not 1 <= len(colors) <= palette_files.MAX_PALETTE:
            raise UserError(f"{where} holds {len(colors)} colours; expected 1..256")
        return info


def _subset(sprites: np.ndarray) -> np.ndarray:
    if len(sprites) <= MAX_SPRITES:
        return sprites
    return sprites[np.linspace(0, len(sprites) - 1, MAX_SPRITES).round().astype(int)]


def alpha_threshold_for(alpha: np.ndarray) -> int:
    """The cut whose hard mask keeps the data's visible area (sum of alpha / 255).

    Hard-alpha pixel art gives a tie over 1..255 that resolves to the midpoint, 128; art with
    anti-aliased edges gets the cut that neither grows nor shrinks its silhouettes.
    """
    hist = np.bincount(alpha.reshape(-1), minlength=256)
    at_least = np.cumsum(hist[::-1])[::-1]            # at_least[t] = pixels with alpha >= t
    target = float((np.arange(256) * hist).sum()) / 255.0
    err = np.abs(at_least[1:] - target) + np.abs(np.arange(1, 256) - 128) * 1e-9
    return int(np.argmin(err)) + 1


def cluster_colors(rgb: np.ndarray, coverage: float = COVERAGE, tol: int = TOLERANCE,
                   max_colors: int = palette_files.MAX_PALETTE) -> tuple[np.ndarray, float]:
    """The fewest colours covering ``coverage`` of the (M, 3) pixels within ``tol`` levels.

    Leader clustering, most frequent colour first: a colour joins the first leader within ``tol``
    on every channel or becomes one; leaders are real data colours, never averages. Leaders are
    then taken by covered pixels until ``coverage`` is reached (at most ``max_colors``).
    Returns (colours most-covering first, share covered).
    """
    if len(rgb) == 0:
        return np.zeros((1, 3), np.uint8), 1.0
    values, counts = np.unique(pack_rgb(rgb), return_counts=True)
    order = np.lexsort((values, -counts))[:MAX_CANDIDATES]   # by count, ties by colour
    colors = unpack_rgb(values[order]).astype(np.int16)
    counts = counts[order]
    leaders = np.empty_like(colors)
    owner = np.empty(len(colors), np.int64)
    n = 0
    for i, c in enumerate(colors):
        if n:
            d = np.abs(leaders[:n] - c).max(axis=1)
            j = int(np.argmin(d))
            if d[j] <= tol:
                owner[i] = j
                continue
        leaders[n] = c
        owner[i] = n
        n += 1
    weight = np.bincount(owner, weights=counts, minlength=n)
    rank = np.lexsort((np.arange(n), -weight))
    share = np.cumsum(weight[rank]) / len(rgb)
    keep = min(int(np.searchsorted(share, coverage - 1e-12)) + 1, n, max_colors)
    return leaders[rank[:keep]].astype(np.uint8), float(share[keep - 1])


def _edge_color(idx: np.ndarray, colors: np.ndarray) -> tuple[tuple[int, int, int] | None, float]:
    """Most common colour of visible pixels that touch transparency (4-neighbourhood), its share."""
    vis = np.pad(idx >= 0, ((0, 0), (1, 1), (1, 1)))
    inner = vis[:, :-2, 1:-1] & vis[:, 2:, 1:-1] & vis[:, 1:-1, :-2] & vis[:, 1:-1, 2:]
    edge = idx[(idx >= 0) & ~inner]
    if len(edge) == 0:
        return None, 0.0
    counts = np.bincount(edge, minlength=len(colors))
    best = int(np.argmax(counts))
    return tuple(int(v) for v in colors[best]), round(float(counts[best] / len(edge)), 4)


def compute_palette(sprites: np.ndarray, source: str = "training data") -> PaletteInfo:
    """Palette and statistics of (N, H, W, 4) uint8 RGBA sprites (the training set)."""
    sprites = _subset(np.asarray(sprites))
    if sprites.ndim != 4 or sprites.shape[-1] != 4 or sprites.dtype != np.uint8 or not len(sprites):
        raise UserError("a palette needs (N, H, W, 4) uint8 RGBA sprites")
    threshold = alpha_threshold_for(sprites[..., 3])
    opaque = sprites[..., 3] >= threshold
    colors, covered = cluster_colors(sprites[..., :3][opaque])
    idx = snap_indices(sprites, colors, threshold)
    used = (sprite_counts(idx, len(colors)) > 0).sum(1)
    used = used[used > 0]
    limit = int(math.ceil(np.percentile(used, LIMIT_PERCENTILE))) if len(used) else None
    outline, outline_share = _edge_color(idx, colors)
    iso = isolated_shares(sprites)
    stats = {"sprites": int(len(sprites)), "coverage": round(covered, 4), "tolerance": TOLERANCE,
             "colors_per_sprite_median": float(np.median(used)) if len(used) else None,
             "outline_share": outline_share,
             # how speckled clean sprites of this set are: finishing leaves sprites below it alone
             "isolated_p90": round(float(np.percentile(iso, LIMIT_PERCENTILE)), 4)}
    return PaletteInfo(colors, threshold, limit, outline, source, stats)


def palette_files_for(info: PaletteInfo) -> dict[str, bytes]:
    """The files to put in a model directory: palette.json, palette.gpl, palette.hex."""
    return {PALETTE_JSON: (json.dumps(info.to_json(), indent=1) + "\n").encode(),
            PALETTE_GPL: palette_files.gpl_text(info.colors, "ldm-sprites model palette").encode(),
            PALETTE_HEX: palette_files.hex_text(info.colors).encode()}


def save_palette(model_dir, info: PaletteInfo) -> list[Path]:
    """Write the palette files into an existing model directory (e.g. an older model)."""
    from ldm_sprites.fsutil import atomic_write_bytes

    return [atomic_write_bytes(Path(model_dir) / name, data)
            for name, data in palette_files_for(info).items()]


def from_model_dir(path) -> PaletteInfo | None:
    """The palette saved with a model (a model directory or a run), or None for older models."""
    from ldm_sprites.modeldir import resolve_model_dir

    f = resolve_model_dir(path) / PALETTE_JSON
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{f} is unreadable; delete it to fall back to a palette from the output") from None
    return PaletteInfo.from_json(data, str(f))


def from_file(path) -> PaletteInfo:
    """A user palette (.gpl, .hex, .txt or .png swatch) with default statistics."""
    return PaletteInfo(palette_files.load_palette(path), source=f"palette file {Path(path).name}")



def training_palette(images) -> PaletteInfo:
    """The palette of a training run's (N, 4, H, W) uint8 sprites, announced in one line."""
    from ldm_sprites.console import info

    # Subset before the channels-last copy: the images may be a memory-mapped cache far larger
    # than RAM, and only the rows picked are read.
    pal = compute_palette(np.ascontiguousarray(_subset(np.asarray(images)).transpose(0, 2, 3, 1)))
    info(f"palette: {len(pal.colors)} colours cover {100 * pal.stats['coverage']:.0f} % of opaque "
         f"pixels; {pal.colors_per_sprite} colours per sprite (90th percentile), alpha cut "
         f"{pal.alpha_threshold} ({PALETTE_JSON})")
    return pal


def training_palette_files(images) -> dict[str, bytes]:
    """``model_files`` for the trainer: the palette files of the training sprites."""
    return palette_files_for(training_palette(images))
