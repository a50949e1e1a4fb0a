"""FD, KID, feature extractors and the memorisation report (no trained model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ldm_sprites.demo_art import make_demo_sprites
from ldm_sprites.errors import UserError
from ldm_sprites.evaluation.features import RandomCNNFeatures
from ldm_sprites.evaluation.memorization import memorization_report, neighbours_image
from ldm_sprites.evaluation.metrics import frechet_distance, kid
from ldm_sprites.evaluation.run import split_counts


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 16))


@pytest.fixture(scope="module")
def sprites():
    arr, _ = make_demo_sprites(5, size=16, seed=0)
    return arr  # (30, 16, 16, 4) uint8


def test_fd_of_a_set_with_itself_is_zero_and_grows_with_noise(feats):
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(1)
    fds = [frechet_distance(feats, feats + rng.normal(scale=s, size=feats.shape))
           for s in (0.1, 0.5, 1.0)]
    assert 0 < fds[0] < fds[1] < fds[2]


def test_fd_matches_closed_form_for_shifted_means(feats):
    shift = np.zeros(feats.shape[1])
    shift[0] = 3.0
    assert frechet_distance(feats, feats + shift) == pytest.approx(9.0, rel=1e-6)


def test_kid_is_unbiased_on_identical_distributions():
    from ldm_sprites.evaluation.metrics import _poly_kernel

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    mean, std = kid(a, b, subsets=30, subset_size=200, seed=0)
    x, y = a[:200], b[:200]
    biased = _poly_kernel(x, x).mean() + _poly_kernel(y, y).mean() - 2 * _poly_kernel(x, y).mean()
    assert abs(mean) < std  # centred on 0 ...
    assert abs(mean) < 0.2 * biased  # ... where the biased V-statistic sits clearly above 0
    same, _ = kid(a, a, subsets=30, subset_size=200, seed=0)
    shifted, _ = kid(a, a + 0.3, subsets=30, subset_size=200, seed=0)
    assert abs(same) < 0.1 * shifted


def test_kid_of_two_whole_sets_is_one_estimate_equal_to_any_subset_draw():
    """A subset as large as both sets is always the same pair: the value the subsets would all
    give (the estimate does not depend on the order of the samples), and no spread."""
    from ldm_sprites.evaluation.metrics import mmd2_unbiased

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 8)), rng.normal(0.2, 1.0, size=(50, 8))
    mean, std = kid(a, b, subsets=10, subset_size=1000)
    shuffled = mmd2_unbiased(a[rng.permutation(50)], b[rng.permutation(50)])
    assert std == 0.0 and mean == pytest.approx(shuffled, rel=1e-9) and mean > 0
    assert kid(a, b[:49], subsets=10, subset_size=1000)[1] > 0  # real subsets of a: a spread


def test_kid_needs_two_samples(feats):
    with pytest.raises(UserError):
        kid(feats[:1], feats)


def test_random_cnn_features_are_deterministic_and_separate_sets(sprites):
    f1 = RandomCNNFeatures()(sprites)
    f2 = RandomCNNFeatures()(sprites)
    assert f1.shape[0] == len(sprites) and np.array_equal(f1, f2)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=sprites.shape, dtype=np.uint8)
    fn = RandomCNNFeatures()(noise)
    assert frechet_distance(f1[:15], f1[15:]) < frechet_distance(f1, fn)


def test_memorisation_flags_an_exact_copy(sprites):
    train = sprites[:24]
    rng = np.random.default_rng(0)
    fresh = rng.integers(0, 256, size=(3,) + sprites.shape[1:], dtype=np.uint8)
    mirrored = train[5][:, ::-1]
    samples = np.stack([train[3], fresh[0], fresh[1], mirrored])
    rep = memorization_report(samples, train, percentile=1.0)
    assert rep["_copy"].tolist() == [True, False, False, True]
    assert rep["copies"] == 2 and rep["copy_indices"] == [0, 3]
    assert rep["_nn_index"][0] == 3 and rep["_nn_distance"][0] == 0
    img = neighbours_image(samples, train, rep)
    assert img.width > 100 and img.height > 50


def test_a_recoloured_training_sprite_is_a_variant_not_a_new_sprite(sprites):
    train = sprites[:24].copy()
    variant = train[7].copy()
    body = variant[..., 3] > 0
    variant[..., :3][body] = variant[..., :3][body] // 2 + 40     # the same sprite, recoloured
    rng = np.random.default_rng(1)
    fresh = rng.integers(0, 256, size=sprites.shape[1:], dtype=np.uint8)
    rep = memorization_report(np.stack([variant, fresh]), train, percentile=0.0)
    assert rep["_copy"].tolist() == [False, False]     # not the same pixels ...
    assert rep["variants"] == 1                        # ... but a variant of a training sprite
    assert rep["_nn_index"][0] == 7
    assert rep["threshold"] <= rep["variant_threshold"]


def test_split_counts_is_proportional_and_exact():
    assert split_counts([100, 100, 50], 10) == [4, 4, 2]
    assert sum(split_counts([3, 1, 1], 7)) == 7
    assert split_counts([0, 0], 3) == [2, 1]


def test_inception_offline_fails_with_a_clear_message(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    ckpt_dir = tmp_path / "torch-home" / "hub" / "checkpoints"
    from ldm_sprites.evaluation.features import InceptionFeatures

    try:
        InceptionFeatures()
    except UserError as exc:
        msg = str(exc)
        assert "--features efficientnet" in msg and str(ckpt_dir) in msg
        return
    pytest.skip("Inception-v3 weights could be downloaded (machine is online)")


def test_class_agreement_counts_samples_nearest_their_class_mean():
    from ldm_sprites.evaluation.metrics import class_agreement

    real = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    real_labels = [3, 3, 7, 7]              # class ids need not start at 0
    fake = np.array([[1.0, 0], [9, 0], [0, 5], [11, 2]])
    assert class_agreement(fake, [3, 7, 7, 7], real, real_labels) == 0.75
    assert class_agreement(real, real_labels, real, real_labels) == 1.0
