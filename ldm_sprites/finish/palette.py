"""A model's palette and the data statistics the finisher needs, computed once from the training
sprites and saved in the model directory.

``palette.json`` holds the colours (most used first) and: ``soft`` (the data's half-transparent
colours, RGBA, when it has soft shadows or glows; empty for hard-alpha art), ``alpha_threshold``
(the cut that keeps the data's visible area), ``colors_per_sprite`` (the data's 90th percentile of
palette colours per sprite) and ``outline_color`` (the data's most common edge colour).
``palette.gpl`` and ``palette.hex`` are the opaque colours for GIMP/Aseprite and Lospec-style tools.

Both parts adapt to the data. The palette grows until it covers ``COVERAGE`` of the opaque pixels
(up to ``MAX_MODEL_COLORS``): a flat-shaded set needs a few dozen colours, richly shaded art such
as the Dungeon Crawl tiles (80-190 colours per sprite at the 90th percentile) about a thousand,
and a smaller cap would band its gradients. Soft entries exist only when at least ``SOFT_MIN`` of
the data's visible pixels are half-transparent, so hard-alpha art keeps alpha 0/255 and art with
drop shadows keeps its shadows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ldm_sprites.errors import UserError
from ldm_sprites.finish import palette_files
from ldm_sprites.finish.snap import snap_indices, sprite_counts
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
MAX_MODEL_COLORS = 1024  # a model's palette: enough for rich shading (mean error ~1.7 levels on
                         # the Dungeon Crawl items, 4.3 at 256), small enough for a palette head
SOFT_MIN = 0.01        # share of visible pixels with soft alpha from which a set "has" soft alpha
SOFT_RANGE = (8, 247)  # alpha outside it reads as transparent / opaque (stray, not a shadow)
SOFT_COVERAGE = 0.95   # share of the soft pixels the soft entries must cover ...
SOFT_TOLERANCE = 16    # ... within this many premultiplied levels on every channel
MAX_SOFT = 64


@dataclass
class PaletteInfo:
    """A palette plus the data statistics finishing uses. ``colors`` is (K, 3) uint8."""

    colors: np.ndarray
    soft: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.uint8))  # (S, 4) RGBA
    alpha_threshold: int = 128
    colors_per_sprite: int | None = None
    outline_color: tuple[int, int, int] | None = None
    source: str = "training data"
    stats: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["colors"] = ["#" + palette_files.hex_text(c[None]).strip() for c in self.colors]
        d["soft"] = ["#{:02x}{:02x}{:02x}{:02x}".format(*c) for c in self.soft.tolist()]
        d["outline_color"] = None if self.outline_color is None else \
            "#{:02x}{:02x}{:02x}".format(*self.outline_color)
        return {"version": 1, **d}

    @classmethod
    def from_json(cls, d: dict, where: str) -> "PaletteInfo":
        try:
            colors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in d["colors"]],
                              dtype=np.uint8).reshape(-1, 3)
            soft = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5, 7)] for c in d["soft"]],
                            dtype=np.uint8).reshape(-1, 4)
            outline = d.get("outline_color")
            info = cls(colors, soft, int(d.get("alpha_threshold", 128)), d.get("colors_per_sprite"),
                       None if outline is None else tuple(int(outline[i:i + 2], 16) for i in (1, 3, 5)),
                       str(d.get("source", "training data")), dict(d.get("stats", {})))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UserError(f"{where} is damaged (expected a palette.json written by training); "
                            "delete it to fall back to a palette from the output") from None
        if not 1 <= len(colors) <= MAX_MODEL_COLORS or len(soft) > MAX_SOFT:
            raise UserError(f"{where} holds {len(colors)} colours and {len(soft)} soft ones; "
                            f"expected 1..{MAX_MODEL_COLORS} and at most {MAX_SOFT}")
        return info

    def entries(self) -> np.ndarray:
        """(K + S, 4) uint8 straight RGBA: the opaque colours (alpha 255), then the soft ones —
        what finishing's indices point into."""
        opaque = np.concatenate([self.colors, np.full((len(self.colors), 1), 255, np.uint8)], 1)
        return np.concatenate([opaque, self.soft]).astype(np.uint8)


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


def _pack(px: np.ndarray) -> np.ndarray:
    """(..., C) uint8 -> (...) int64, one integer per colour; sorts like the rows."""
    shifts = np.arange(px.shape[-1] - 1, -1, -1, dtype=np.int64) * 8
    return (px.astype(np.int64) << shifts).sum(-1)


def _unpack(packed: np.ndarray, channels: int) -> np.ndarray:
    shifts = np.arange(channels - 1, -1, -1, dtype=np.int64) * 8
    return ((packed[..., None] >> shifts) & 255).astype(np.uint8)


def cluster_colors(rgb: np.ndarray, coverage: float = COVERAGE, tol: int = TOLERANCE,
                   max_colors: int = palette_files.MAX_PALETTE) -> tuple[np.ndarray, float]:
    """The fewest colours covering ``coverage`` of the (M, C) pixels within ``tol`` levels
    (C = 3 for RGB; 4 for premultiplied RGBA, the soft entries).

    Leader clustering, most frequent colour first: a colour joins the first leader within ``tol``
    on every channel or becomes one; leaders are real data colours, never averages. Leaders are
    then taken by covered pixels until ``coverage`` is reached (at most ``max_colors``).
    Returns (colours most-covering first, share covered).
    """
    if len(rgb) == 0:
        return np.zeros((1, rgb.shape[-1]), np.uint8), 1.0
    values, counts = np.unique(_pack(rgb), return_counts=True)
    order = np.lexsort((values, -counts))[:MAX_CANDIDATES]   # by count, ties by colour
    colors = _unpack(values[order], rgb.shape[-1]).astype(np.int16)
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


def soft_share(alpha: np.ndarray) -> float:
    """Share of visible pixels whose alpha lies in ``SOFT_RANGE`` (shadows, glows, anti-aliasing)."""
    visible = int((alpha > 0).sum())
    if not visible:
        return 0.0
    return float(((alpha >= SOFT_RANGE[0]) & (alpha <= SOFT_RANGE[1])).sum() / visible)


def soft_colors(sprites: np.ndarray) -> np.ndarray:
    """(S, 4) uint8 straight RGBA: the data's half-transparent colours, or none (S = 0) when
    fewer than ``SOFT_MIN`` of its visible pixels are soft.

    Clustered like the opaque colours, but in premultiplied RGBA — what the eye sees over a
    background — so a faint glow and a faint shadow of different hues, both nearly invisible,
    may share an entry while shadow levels 25 % and 60 % never do."""
    alpha = sprites[..., 3]
    if soft_share(alpha) < SOFT_MIN:
        return np.zeros((0, 4), np.uint8)
    px = sprites[(alpha >= SOFT_RANGE[0]) & (alpha <= SOFT_RANGE[1])].astype(np.int64)
    pre = np.concatenate([(px[:, :3] * px[:, 3:] + 127) // 255, px[:, 3:]], 1).astype(np.uint8)
    leaders, _ = cluster_colors(pre, SOFT_COVERAGE, SOFT_TOLERANCE, MAX_SOFT)
    a = leaders[:, 3:].astype(np.int64)
    straight = np.clip((leaders[:, :3].astype(np.int64) * 255 + a // 2) // np.maximum(a, 1), 0, 255)
    return np.concatenate([straight, a], 1).astype(np.uint8)


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
    soft = soft_colors(sprites)
    opaque = sprites[..., 3] >= (SOFT_RANGE[1] + 1 if len(soft) else threshold)
    colors, covered = cluster_colors(sprites[..., :3][opaque], max_colors=MAX_MODEL_COLORS)
    idx = snap_indices(sprites, colors, threshold, soft)
    idx = np.where(idx < len(colors), idx, -1).astype(idx.dtype)   # opaque colours' statistics
    used = (sprite_counts(idx, len(colors)) > 0).sum(1)
    used = used[used > 0]
    limit = int(math.ceil(np.percentile(used, LIMIT_PERCENTILE))) if len(used) else None
    outline, outline_share = _edge_color(idx, colors)
    iso = isolated_shares(sprites)
    stats = {"sprites": int(len(sprites)), "coverage": round(covered, 4), "tolerance": TOLERANCE,
             "soft_alpha_share": round(soft_share(sprites[..., 3]), 4),
             "colors_per_sprite_median": float(np.median(used)) if len(used) else None,
             "outline_share": outline_share,
             # how speckled clean sprites of this set are: finishing leaves sprites below it alone
             "isolated_p90": round(float(np.percentile(iso, LIMIT_PERCENTILE)), 4)}
    return PaletteInfo(colors, soft, threshold, limit, outline, source, stats)


def palette_files_for(info: PaletteInfo) -> dict[str, bytes]:
    """The files to put in a model directory: palette.json, palette.gpl, palette.hex."""
    return {PALETTE_JSON: (json.dumps(info.to_json(), indent=1) + "\n").encode(),
            PALETTE_GPL: palette_files.gpl_text(info.colors, "ldm-sprites model palette").encode(),
            PALETTE_HEX: palette_files.hex_text(info.colors).encode()}


def from_model_dir(path) -> PaletteInfo | None:
    """The palette saved with a model (a model directory or a run), or None when it has no palette.json
    (a model directory written without one, e.g. by hand)."""
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
    alpha = (f"{len(pal.soft)} soft colours for its shadows and glows" if len(pal.soft)
             else f"hard alpha, cut {pal.alpha_threshold}")
    info(f"palette: {len(pal.colors)} colours cover {100 * pal.stats['coverage']:.0f} % of opaque "
         f"pixels; {pal.colors_per_sprite} colours per sprite (90th percentile); {alpha} "
         f"({PALETTE_JSON})")
    return pal


def training_palette_files(images) -> dict[str, bytes]:
    """``model_files`` for the trainer: the palette files of the training sprites."""
    return palette_files_for(training_palette(images))
