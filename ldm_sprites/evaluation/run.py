"""``ldmsprites eval``: generate sprites, compare them with the real ones, check for copies.

Per-class counts: with ``balance="data"`` (default) the ``num`` samples are split over classes in
proportion to the class sizes of the evaluation data (largest remainder), so FD/KID compare like
with like; ``"uniform"`` splits them evenly. Unconditional models ignore classes.
"""

from __future__ import annotations

import numpy as np

from ldm_sprites.console import info, warn
from ldm_sprites.evaluation.cleanliness import cleanliness_summary
from ldm_sprites.evaluation.memorization import memorization_report, public
from ldm_sprites.evaluation.metrics import bootstrap_fd, kid
from ldm_sprites.data.seam import seam_summary


def split_counts(weights: list[float], num: int) -> list[int]:
    """Largest-remainder split of ``num`` proportional to ``weights`` (ties: lower index)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
    exact = w * num
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:num - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def plan_labels(model_classes: list[str], data, num: int, balance: str) -> list[int]:
    """Class id per sample, grouped by class."""
    if not model_classes:
        return [0] * num
    weights = [1.0] * len(model_classes)
    if balance == "data":
        if data.classes:
            counts = dict(zip(data.classes, np.bincount(data.labels.numpy(),
                                                        minlength=len(data.classes)).tolist()))
            missing = [c for c in model_classes if c not in counts]
            if missing:
                warn(f"classes {', '.join(missing)} are not in the data; they get no samples")
            weights = [float(counts.get(c, 0)) for c in model_classes]
        else:
            info("the data has no class labels; spreading samples uniformly over classes")
    counts = split_counts(weights, num)
    return [c for c, k in enumerate(counts) for _ in range(k)]


def real_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The two random halves (index arrays, n // 2 each) the real-vs-real floor compares."""
    perm = np.random.default_rng(seed).permutation(n)
    h = n // 2
    return perm[:h], perm[h:2 * h]


def real_split_fd(feats: np.ndarray, seed: int, resamples: int = 0) -> dict | None:
    """FD between two random halves of the real set — the score of a perfect model, the floor
    below which differences are noise — with its bootstrap interval (see ``bootstrap_fd``)."""
    if len(feats) < 8:
        return None
    a, b = real_halves(len(feats), seed)
    return bootstrap_fd(feats[a], feats[b], resamples=resamples, seed=seed)


def sheets(labels: list[int], size: int) -> list[np.ndarray]:
    """Index arrays of the sheets a user would generate: runs of at most ``size`` samples of
    one class, in order (``size`` 0: everything in one sheet)."""
    labels = np.asarray(labels)
    if size <= 0 or len(labels) == 0:
        return [np.arange(len(labels))]
    out = []
    for c in dict.fromkeys(labels.tolist()):   # classes in the order they come
        idx = np.flatnonzero(labels == c)
        out += [idx[i:i + size] for i in range(0, len(idx), size)]
    return out


def generated_sprites(pipe, labels: list[int], *, seed: int, sample_kw: dict,
                      sheet_size: int = 0) -> np.ndarray:
    """The sprites users get for ``labels``: sampled and finished as ``sample_kw['finish']``
    says. A shared palette is one sheet's, so with ``sheet_size`` each run of that many
    samples of one class is finished on its own, as ``generate --class C --num N`` finishes
    the N it makes; the samples themselves do not depend on it (finishing comes after)."""
    finish = sample_kw.get("finish")
    if not (sheet_size and finish is not None and finish.shared_palette):
        return pipe.sprites(labels, seed=seed, progress=True, **sample_kw)
    from ldm_sprites.finish import FinishOptions

    raw = pipe.sprites(labels, seed=seed, progress=True,
                       **{**sample_kw, "finish": FinishOptions(mode="none")})
    wrap = getattr(sample_kw.get("options"), "tileable", None)
    out = np.empty_like(raw)
    for idx in sheets(labels, sheet_size):
        out[idx] = pipe.finish(raw[idx], finish, wrap=wrap)
    return out


def evaluate(pipe, data, extractor, *, num: int, balance: str, sample_kw: dict, seed: int,
             percentile: float, kid_subsets: int, kid_subset_size: int, bootstrap: int = 50,
             sheet_size: int = 0):
    """Returns (result dict for JSON, generated sprites, real sprites, memorisation report).

    FD comes with a ``bootstrap``-resample 95 % interval (``fd_ci95``) and the real-vs-real
    floor (``fd_real_halves``, ``fd_real_halves_ci95``); ``cleanliness`` holds the sprite
    statistics of ``evaluation.cleanliness`` for the generated and the real sprites; with
    tileable sampling options, ``seam`` the seam scores (``data.seam``) of both. A shared
    palette is chosen per sheet of ``sheet_size`` samples of one class (``generated_sprites``;
    0: one palette for all ``num``)."""
    labels = plan_labels(pipe.classes, data, num, balance)
    # sample_kw may hold finish=FinishOptions: the sprites scored are the ones users get
    fake = generated_sprites(pipe, labels, seed=seed, sample_kw=sample_kw, sheet_size=sheet_size)
    real = data.images.permute(0, 2, 3, 1).contiguous().numpy()
    f_fake, f_real = extractor(fake), extractor(real)
    k_mean, k_std = kid(f_fake, f_real, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    mem = memorization_report(fake, real, percentile=percentile, seed=seed)
    fd = bootstrap_fd(f_fake, f_real, resamples=bootstrap, seed=seed)
    floor = real_split_fd(f_real, seed, resamples=bootstrap)
    result = {
        "features": extractor.name, "num_generated": len(fake), "num_real": len(real),
        "fd": round(fd["fd"], 6), "fd_ci95": _round_all(fd["ci95"]),
        "fd_real_halves": _round(floor and floor["fd"]),
        "fd_real_halves_ci95": _round_all(floor and floor["ci95"]),
        "fd_bootstrap_resamples": fd["resamples"],
        "kid_mean": round(k_mean, 8), "kid_std": round(k_std, 8),
        "kid_subsets": kid_subsets, "kid_subset_size": min(kid_subset_size, len(fake), len(real)),
        "balance": balance, "seed": seed, "sheet_size": sheet_size,
        "memorization": public(mem),
        "cleanliness": {"generated": cleanliness_summary(fake), "real": cleanliness_summary(real)},
    }
    axes = getattr(sample_kw.get("options"), "tileable", None)
    if axes:   # tileable sampling: how well the tiles wrap, beside the real tiles' own seams
        result["seam"] = {"generated": seam_summary(fake, axes), "real": seam_summary(real, axes)}
    if pipe.classes:
        result["per_class"] = _per_class(pipe.classes, labels, data, mem)
        same = [pipe.classes[c] == _data_class(data, j) for c, j in zip(labels, mem["_nn_index"])]
        result["nn_same_class_share"] = round(float(np.mean(same)), 6)
        if data.classes:
            result.update(_feature_nn_classes(pipe.classes, labels, data, f_fake, f_real))
    return result, fake, real, mem


def _feature_nn_classes(classes, labels, data, f_fake, f_real) -> dict:
    """The class of each sample's nearest real sprite in feature space (what a sprite looks like,
    not which pixels it shares) against the class asked for, beside the same share for the real
    sprites themselves (each one's nearest *other* real sprite): the ceiling for this data."""
    real_names = np.array(data.classes)[data.labels.numpy()]
    fr = f_real.astype(np.float64)
    sq = (fr ** 2).sum(1)
    d_fake = (f_fake.astype(np.float64) ** 2).sum(1)[:, None] - 2 * f_fake @ fr.T + sq[None]
    asked = np.array(classes)[np.asarray(labels)]
    d_real = sq[:, None] - 2 * fr @ fr.T + sq[None]
    np.fill_diagonal(d_real, np.inf)
    return {"feature_nn_same_class_share": round(float((real_names[d_fake.argmin(1)] == asked).mean()), 6),
            "real_feature_nn_same_class_share": round(float((real_names[d_real.argmin(1)] == real_names).mean()), 6)}


def format_fd(value, ci) -> str:
    """'12.3 [11.8, 12.9]' (three significant figures; no interval when there is none)."""
    if value is None:
        return "n/a"
    return f"{value:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")


def summary_line(result: dict) -> str:
    """The FD part of eval's one-line summary: estimate, interval, real-vs-real floor."""
    return (f"FD {format_fd(result['fd'], result.get('fd_ci95'))} vs real-vs-real floor "
            f"{format_fd(result.get('fd_real_halves'), result.get('fd_real_halves_ci95'))} "
            f"[{result['features']}, 95 % bootstrap]")


def _round_all(values, nd=6):
    return None if values is None else [round(v, nd) for v in values]


def _round(v, nd=6):
    return None if v is None else round(v, nd)


def _data_class(data, j: int) -> str | None:
    return data.classes[int(data.labels[j])] if data.classes else None


def _per_class(classes: list[str], labels: list[int], data, mem) -> dict:
    """Per class: samples generated, real sprites, share whose nearest neighbour is that class."""
    real = dict(zip(data.classes, np.bincount(data.labels.numpy(),
                                              minlength=len(data.classes)).tolist())) \
        if data.classes else {}
    out = {}
    for c, name in enumerate(classes):
        idx = [i for i, lab in enumerate(labels) if lab == c]
        same = [_data_class(data, mem["_nn_index"][i]) == name for i in idx]
        out[name] = {"generated": len(idx), "real": real.get(name, 0),
                     "nn_same_class_share": round(float(np.mean(same)), 6) if idx else None,
                     "copies": int(sum(bool(mem["_copy"][i]) for i in idx))}
    return out
