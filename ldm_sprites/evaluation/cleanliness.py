"""Does a sprite *look* like pixel art? Per-sprite statistics that loss curves and FD miss.

Pixel art has a handful of flat colours, alpha of exactly 0 or 255 and few lone pixels; a
diffusion model's raw output has colour jitter, soft edges and speckle. Four numbers per sprite,
all over its *visible* pixels (alpha > 0):

* ``distinct_colors`` — distinct RGB values.
* ``visible_colors`` — colours after merging those within ``tol`` levels per channel (greedy
  leader clustering, most frequent colour first): the palette a person would count.
* ``soft_alpha`` — share of visible pixels with 0 < alpha < 255.
* ``isolated`` — share of visible pixels none of whose 4-neighbours is within ``tol`` levels on
  every RGBA channel (transparent pixels count as (0, 0, 0, 0)); speckle and noise score high,
  flat areas, outlines and 1-px lines low.

``summarize`` gives the median and 90th percentile over a set, the way the issue tables report
them.
"""

from __future__ import annotations

import numpy as np

from ldm_sprites.finish.snap import pack_rgb, unpack_rgb
from ldm_sprites.finish.speckle import TOL, isolated_mask  # noqa: F401 - part of this API

STATS = ("distinct_colors", "visible_colors", "soft_alpha", "isolated")


def visible_colors(rgb: np.ndarray, tol: int = TOL) -> int:
    """Number of colour clusters among (K, 3) uint8 pixels: each colour joins the first, more
    frequent leader within ``tol`` on every channel, or becomes a leader itself."""
    if len(rgb) == 0:
        return 0
    # packed 0xRRGGBB sorts like the (r, g, b) rows, so ties break the same way
    values, counts = np.unique(pack_rgb(rgb).reshape(-1), return_counts=True)
    colors = unpack_rgb(values[np.argsort(-counts, kind="stable")]).astype(np.int16)
    leaders = np.empty((len(colors), 3), np.int16)
    n = 0
    for c in colors:
        if n == 0 or np.abs(leaders[:n] - c).max(axis=1).min() > tol:
            leaders[n] = c
            n += 1
    return n


def sprite_stats(rgba: np.ndarray, tol: int = TOL) -> dict[str, float]:
    """The four statistics of one (H, W, 4) uint8 sprite."""
    vis = rgba[..., 3] > 0
    n = int(vis.sum())
    if n == 0:
        return {"distinct_colors": 0.0, "visible_colors": 0.0, "soft_alpha": 0.0, "isolated": 0.0}
    rgb = rgba[..., :3][vis]
    a = rgba[..., 3][vis]
    return {
        "distinct_colors": float(len(np.unique(pack_rgb(rgb)))),
        "visible_colors": float(visible_colors(rgb, tol)),
        "soft_alpha": float((a < 255).mean()),
        "isolated": float(isolated_mask(rgba, tol).sum() / n),
    }


def cleanliness(sprites: np.ndarray, tol: int = TOL) -> dict[str, np.ndarray]:
    """(N, H, W, 4) uint8 -> per-sprite arrays of each statistic."""
    rows = [sprite_stats(s, tol) for s in np.asarray(sprites)]
    return {k: np.array([r[k] for r in rows], dtype=float) for k in STATS}


def summarize(per_sprite: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Median and 90th percentile of each statistic (shares as fractions)."""
    out = {}
    for k, v in per_sprite.items():
        if len(v) == 0:
            out[k] = {"median": None, "p90": None}
            continue
        out[k] = {"median": round(float(np.median(v)), 4),
                  "p90": round(float(np.percentile(v, 90)), 4)}
    return out


def cleanliness_summary(sprites: np.ndarray, tol: int = TOL) -> dict[str, dict[str, float]]:
    return summarize(cleanliness(sprites, tol))


def format_table(columns: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per statistic, one 'median / p90' column per set."""
    names = list(columns)
    labels = {"distinct_colors": "distinct colours", "visible_colors": "visible colours",
              "soft_alpha": "soft alpha", "isolated": "isolated pixels"}
    lines = [f"{'':18s}" + "".join(f"{n:>22s}" for n in names)]
    for k in STATS:
        cells = []
        for n in names:
            s = columns[n][k]
            if s["median"] is None:
                cells.append(f"{'-':>22s}")
            elif k in ("soft_alpha", "isolated"):
                cells.append(f"{100 * s['median']:>9.1f} % / {100 * s['p90']:5.1f} %")
            else:
                cells.append(f"{s['median']:>12.1f} / {s['p90']:7.1f}")
        lines.append(f"{labels[k]:18s}" + "".join(cells))
    return "\n".join(lines)
