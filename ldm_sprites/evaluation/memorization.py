"""Does the model copy its training sprites? Nearest neighbours in pixel space.

Each sample's distance to its nearest training sprite (or that sprite's mirror image, since
training flips) is compared with how close training sprites are to *each other*: a sample closer
than the ``percentile``-th percentile of train–train nearest-neighbour distances is flagged as a
copy. So the threshold adapts to the data: sets with many near-duplicates get a low one.

Sets of game tiles are full of *variants* — the same potion, wand or scroll in another colour —
and a recoloured training tile is not a new sprite either. ``variants`` counts the samples closer
to a training sprite than ``VARIANT_PERCENTILE`` (25) of train-train nearest-neighbour distances:
on the Dungeon Crawl items the quarter of tiles nearest another tile are all such recolours
(docs/benchmarks.md), so a sample that is a variant of a training tile counts there, not as new.
"""

from __future__ import annotations

import numpy as np
import torch

from ldm_sprites.data.tensors import rgba_uint8_to_model

MAX_REFERENCE = 2000  # train-train reference distances from at most this many query sprites
VARIANT_PERCENTILE = 25.0  # closer than this percentile of train-train distances: a variant


def _vectors(rgba: np.ndarray) -> torch.Tensor:
    """(N, H, W, 4) uint8 -> (N, D) premultiplied model-space pixels (transparent = one value)."""
    x = torch.from_numpy(np.ascontiguousarray(rgba)).permute(0, 3, 1, 2)
    return rgba_uint8_to_model(x).flatten(1)


def _nearest(q: torch.Tensor, ref: torch.Tensor, self_index: torch.Tensor | None = None,
             chunk: int = 512):
    """Nearest row of ``ref`` for every row of ``q``: (distances, indices). With ``self_index``
    (queries taken from the first half of ``ref``, the second half being their mirror images),
    query i may match neither ``ref[self_index[i]]`` nor its own mirror image."""
    half = len(ref) // 2
    dists, idx = [], []
    for i in range(0, len(q), chunk):
        d = torch.cdist(q[i:i + chunk], ref)
        if self_index is not None:
            rows = torch.arange(len(d))
            own = self_index[i:i + chunk]
            d[rows, own] = float("inf")
            d[rows, own + half] = float("inf")
        v, j = d.min(1)
        dists.append(v)
        idx.append(j)
    return torch.cat(dists), torch.cat(idx)


def memorization_report(samples: np.ndarray, train: np.ndarray, percentile: float = 1.0,
                        seed: int = 0) -> dict:
    """JSON-ready report plus ``nn_index`` / ``nn_distance`` / ``copy`` arrays (keys starting
    with ``_`` are for the neighbour PNG, not for JSON)."""
    tr = _vectors(train)
    n = len(tr)
    ref = torch.cat([tr, _vectors(train[:, :, ::-1])])  # rows n..2n-1: mirrored training sprites
    d_gen, j_gen = _nearest(_vectors(samples), ref)
    gen = torch.Generator().manual_seed(seed)
    queries = torch.randperm(n, generator=gen)[:MAX_REFERENCE] if n > MAX_REFERENCE \
        else torch.arange(n)
    if n >= 2:
        d_ref, _ = _nearest(tr[queries], ref, self_index=queries)
        threshold = float(np.percentile(d_ref.numpy(), percentile))
        variant_threshold = float(np.percentile(d_ref.numpy(), VARIANT_PERCENTILE))
        ref_median = float(d_ref.median())
    else:
        threshold, variant_threshold, ref_median = 0.0, 0.0, float("nan")
    copies = (d_gen <= threshold).numpy()
    variants = (d_gen <= variant_threshold).numpy()
    return {
        "threshold": threshold, "percentile": percentile,
        "train_train_nn_median": ref_median,
        "sample_nn_median": float(d_gen.median()),
        "copies": int(copies.sum()), "copy_share": float(copies.mean()),
        "copy_indices": np.flatnonzero(copies).tolist(),
        "variant_threshold": variant_threshold, "variant_percentile": VARIANT_PERCENTILE,
        "variants": int(variants.sum()), "variant_share": float(variants.mean()),
        "_nn_index": (j_gen % n).numpy(), "_nn_mirrored": (j_gen >= n).numpy(),
        "_nn_distance": d_gen.numpy(), "_copy": copies,
    }


def public(report: dict) -> dict:
    """Drop the array entries (keys starting with '_') for JSON."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


def neighbours_image(samples: np.ndarray, train: np.ndarray, report: dict, rows: int = 12,
                     per_row: int = 3):
    """Samples beside their nearest training sprite, closest (most suspicious) first."""
    from ldm_sprites.visual import layout

    order = np.argsort(report["_nn_distance"], kind="stable")[:rows * per_row]
    scale = layout.display_scale(samples.shape[1], 64)
    cells, labels = [], []
    for r in range(0, len(order), per_row):
        row = []
        for i in order[r:r + per_row]:
            nn = train[report["_nn_index"][i]]
            if report["_nn_mirrored"][i]:
                nn = nn[:, ::-1]
            pair = layout.panel(np.stack([samples[i], nn]), nrow=2, scale=scale)
            tag = " COPY" if report["_copy"][i] else ""
            row.append(layout.titled(pair, f"#{i} d={report['_nn_distance'][i]:.2f}{tag}"))
        while len(row) < per_row:
            row.append(layout.text_image(""))
        cells.append(row)
        labels.append("")
    return layout.table(cells, labels, [""] * per_row,
                        title=f"sample | nearest training sprite, closest first "
                              f"(copy if d <= {report['threshold']:.2f})")
