"""Hard alpha, nearest-palette snapping and the per-sprite colour limit, in *index space*.

Sprites are (N, H, W, 4) uint8. After snapping, a batch is an (N, H, W) int16 array of palette
indices with ``TRANSPARENT`` (-1) for invisible pixels; cleanup works on that and ``render``
turns it back into RGBA. Every step is a pure function of its inputs (no randomness, stable
tie-breaks), so the same sprites give the same bytes.
"""

from __future__ import annotations

import numpy as np

from ldm_sprites.data.tensors import premultiplied

TRANSPARENT = -1
SOFT_HUE_TOL = 64  # straight-colour levels within which a soft pixel is the data's soft colour


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (...) int32 0xRRGGBB."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    packed = np.asarray(packed)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1).astype(np.uint8)


def unique_colors(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours (K, 3) of an (..., 3) array and each pixel's index into them (flat).

    Packing RGB into one integer first makes this ~50x faster than ``np.unique(axis=0)``.
    """
    values, inverse = np.unique(pack_rgb(rgb).reshape(-1), return_inverse=True)
    return unpack_rgb(values), inverse.reshape(-1)


def hard_alpha(rgba: np.ndarray, threshold: int) -> np.ndarray:
    """Alpha >= threshold becomes 255, the rest 0 (threshold 0 keeps alpha as it is).

    Fully transparent pixels also get RGB 0, so invisible colour noise from a generator does not
    end up in palettes, traced SVGs or compressed PNG sizes.
    """
    out = rgba.copy()
    if threshold > 0:
        out[..., 3] = np.where(rgba[..., 3] >= threshold, 255, 0).astype(np.uint8)
    out[out[..., 3] == 0] = 0
    return out


def nearest(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the exact nearest palette colour (Euclidean RGB) for each of (K, 3) colours.

    A k-d tree over the palette: ~4x faster than a distance matrix for thousands of colours, and
    exact, unlike Pillow's ``quantize(palette=...)`` (see docs/defaults.md).
    """
    from scipy.spatial import cKDTree

    if len(colors) == 0:
        return np.zeros(0, np.int64)
    _, index = cKDTree(palette.astype(np.float64)).query(colors.astype(np.float64))
    return np.asarray(index, np.int64)


def snap_indices(rgba: np.ndarray, palette: np.ndarray, threshold: int,
                 soft: np.ndarray | None = None) -> np.ndarray:
    """(N, H, W, 4) uint8 -> (N, H, W) int16 palette indices.

    Without ``soft`` entries: alpha below ``threshold`` is TRANSPARENT, the rest takes the nearest
    of the (K, 3) ``palette``. With (S, 4) RGBA ``soft`` entries (the data has soft shadows or
    glows) every visible pixel takes the nearest of transparent, the opaque colours (indices
    0..K-1) and the soft entries (K..K+S-1) in premultiplied RGBA, so a shadow stays a shadow
    and a stray faint pixel becomes transparent; ``threshold`` is not used."""
    idx = np.full(rgba.shape[:-1], TRANSPARENT, np.int16)
    if soft is not None and len(soft):
        visible = rgba[..., 3] > 0
        px = rgba[visible]
        packed = px.astype(np.int64) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], np.int64)
        values, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        opaque = np.concatenate([palette, np.full((len(palette), 1), 255, np.uint8)], 1)
        table = np.concatenate([np.zeros((1, 4), np.uint8), opaque, soft.astype(np.uint8)])
        pick = nearest_rgba(px[first], table) - 1
        # A soft pick must also have the soft colour's hue: a generator's half-transparent edge
        # of a red sword is the sword's edge, not a patch of the data's black drop shadow.
        # Those take the hard-alpha rule instead.
        soft_pick = pick >= len(palette)
        if soft_pick.any():
            own = px[first][soft_pick, :3].astype(np.int16)
            entry = soft.astype(np.int16)[pick[soft_pick] - len(palette), :3]
            off = np.flatnonzero(soft_pick)[np.abs(own - entry).max(1) > SOFT_HUE_TOL]
            hard = px[first][off]
            pick[off] = np.where(hard[:, 3] >= max(1, threshold),
                                 nearest(hard[:, :3], palette), TRANSPARENT)
        idx[visible] = pick[inverse.reshape(-1)]
        return idx
    opaque = rgba[..., 3] >= max(1, threshold)
    # Each distinct colour is matched once: far cheaper than a distance per pixel.
    values, inverse = np.unique(pack_rgb(rgba[..., :3][opaque]), return_inverse=True)
    idx[opaque] = nearest(unpack_rgb(values), palette)[inverse.reshape(-1)]
    return idx


def nearest_rgba(rgba: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Index of the nearest (T, 4) straight-RGBA ``table`` entry for each (M, 4) pixel, by
    premultiplied distance."""
    from scipy.spatial import cKDTree

    if len(rgba) == 0:
        return np.zeros(0, np.int64)
    _, index = cKDTree(premultiplied(table)).query(premultiplied(rgba))
    return np.asarray(index, np.int64)


def render(idx: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(N, H, W) indices -> (N, H, W, 4) uint8 RGBA; transparent pixels are (0, 0, 0, 0).
    ``palette`` is (K, 3) opaque colours or (K, 4) RGBA entries (``PaletteInfo.entries``)."""
    out = np.zeros(idx.shape + (4,), np.uint8)
    opaque = idx >= 0
    if palette.shape[-1] == 4:
        out[opaque] = palette[idx[opaque]]
        return out
    out[..., :3][opaque] = palette[idx[opaque]]
    out[..., 3][opaque] = 255
    return out


def distance_space(palette: np.ndarray) -> np.ndarray:
    """The coordinates cleanup and colour limits measure colour distances in: RGB for (K, 3)
    opaque colours, premultiplied RGBA for (K, 4) entries (a 40 % shadow is far from the opaque
    black it is made of)."""
    return premultiplied(palette) if palette.shape[-1] == 4 else palette.astype(np.float64)


def snap_to_palette(rgba: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """One (H, W, 4) sprite with every visible colour replaced by its nearest palette colour;
    alpha is kept as it is."""
    out = render(snap_indices(rgba[None], palette, 1)[0], palette)
    out[..., 3] = rgba[..., 3]
    return out


def merge_maps(counts: np.ndarray, palette: np.ndarray, limit: int) -> np.ndarray:
    """(N, K) per-sprite colour counts -> (N, K) index maps leaving at most ``limit`` colours each.

    Each round removes, in every sprite still over the limit, the colour whose merge costs least
    — its pixel count times its squared distance to the nearest colour still used — and moves
    its pixels there. Near-duplicate shades (a generator's colour jitter) go first; a rare colour
    far from the rest (a 1-px eye, a highlight) is expensive to merge and stays. All sprites
    advance together, so the cost is one small array operation per round, not per sprite.
    """
    n, k = counts.shape
    remap = np.tile(np.arange(k), (n, 1))
    alive = counts > 0
    over = alive.sum(1) > limit
    if not over.any():
        return remap
    pal = distance_space(palette)
    dist = ((pal[:, None, :] - pal[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    rows = np.flatnonzero(over)
    weight = counts[rows].astype(np.float64)
    live = alive[rows]
    masked = np.where(live[:, None, :], dist[None], np.inf)          # (R, K, K)
    near = np.argmin(masked, axis=2)                                  # (R, K)
    near_d = np.take_along_axis(masked, near[..., None], 2)[..., 0]
    del masked
    r_all = np.arange(len(rows))
    sub = remap[rows]
    while True:
        active = live.sum(1) > limit
        if not active.any():
            break
        r = r_all[active]
        cost = np.where(live[r], weight[r] * near_d[r], np.inf)
        i = np.argmin(cost, axis=1)
        j = near[r, i]
        weight[r, j] += weight[r, i]
        live[r, i] = False
        hit = sub[r] == i[:, None]
        sub[r] = np.where(hit, j[:, None], sub[r])
        # colours whose nearest was the removed one look for their next nearest
        stale_r, stale_k = np.nonzero((near[r] == i[:, None]) & live[r])
        if len(stale_r):
            rr = r[stale_r]
            cand = np.where(live[rr], dist[stale_k], np.inf)
            near[rr, stale_k] = np.argmin(cand, axis=1)
            near_d[rr, stale_k] = cand[np.arange(len(rr)), near[rr, stale_k]]
    remap[rows] = sub
    return remap


def sprite_counts(idx: np.ndarray, k: int) -> np.ndarray:
    """(N, H, W) indices -> (N, K) pixel count of each palette colour in each sprite."""
    n = idx.shape[0]
    flat = idx.reshape(n, -1).astype(np.int64)
    keys = (np.arange(n)[:, None] * k + flat)[flat >= 0]
    return np.bincount(keys, minlength=n * k).reshape(n, k)


def _apply(idx: np.ndarray, remap: np.ndarray) -> np.ndarray:
    """Apply (N, K) per-sprite index maps to (N, H, W) indices (transparent stays)."""
    n = idx.shape[0]
    flat = idx.reshape(n, -1)
    out = np.take_along_axis(remap, np.clip(flat, 0, None).astype(np.int64), 1)
    return np.where(flat >= 0, out, flat).astype(idx.dtype).reshape(idx.shape)


def _limited(counts: np.ndarray, palette: np.ndarray, limit: int, chunk: int = 8) -> np.ndarray:
    """``merge_maps`` for many sprites and large palettes: only the sprites over the limit, a few
    at a time, each chunk over just the colours it uses — (chunk, U, U) instead of (N, K, K)
    distances, which for a 1,024-colour palette and a sheet of 64 sprites would be 4 GB."""
    n, k = counts.shape
    remap = np.tile(np.arange(k), (n, 1))
    over = np.flatnonzero((counts > 0).sum(1) > limit)
    for start in range(0, len(over), chunk):
        rows = over[start:start + chunk]
        used = np.flatnonzero(counts[rows].sum(0))
        local = merge_maps(counts[rows][:, used], palette[used], limit)
        remap[rows[:, None], used[None, :]] = used[local]
    return remap


# Variance floor of fair_counts, in squared levels: a flat tile does not outweigh the rest.
FAIR_VARIANCE_FLOOR = 64.0


def fair_counts(counts: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(N, K) per-sprite counts -> (K,) batch weights for one shared palette in which every
    sprite keeps its own contrast: each sprite's colour shares divided by its own colour
    variance. Summed pixel counts let a few large, contrasty tiles decide, and merging by count
    times distance takes a dark, low-contrast tile's close shades first, leaving it flat."""
    n_px = counts.sum(1, keepdims=True).astype(np.float64)
    share = counts / np.maximum(n_px, 1)
    pal = distance_space(palette)
    mean = share @ pal
    var = (share * ((pal[None] - mean[:, None]) ** 2).sum(-1)).sum(1)
    return (share / np.maximum(var, FAIR_VARIANCE_FLOOR)[:, None]).sum(0)


def limit_colors(idx: np.ndarray, palette: np.ndarray, per_sprite: int | None,
                 shared: int | None = None) -> np.ndarray:
    """At most ``shared`` colours over the whole batch, then at most ``per_sprite`` in each.
    ``palette`` is (K, 3) colours or (K, 4) RGBA entries (distances as ``distance_space``)."""
    k = len(palette)
    if shared is not None:
        remap = _limited(fair_counts(sprite_counts(idx, k), palette)[None], palette, shared)
        idx = _apply(idx, np.repeat(remap, idx.shape[0], 0))
    if per_sprite is not None:
        idx = _apply(idx, _limited(sprite_counts(idx, k), palette, per_sprite))
    return idx
