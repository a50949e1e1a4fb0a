"""The procedural demo sprite set: shapes, determinism, look statistics, files and CLI."""

from __future__ import annotations

import csv
import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.demo_art import (
    DEMO_CLASSES,
    DEMO_SHAPES,
    make_demo_sprites,
    render_sprite,
    write_demo_set,
)

N = 20


@pytest.fixture(scope="module")
def sprites32():
    return make_demo_sprites(N, size=32, seed=0)


def test_the_demo_classes_are_the_bundled_demo_models_and_each_has_its_shapes():
    """The default model was trained on this set: generate --class NAME works for exactly these."""
    import json

    from ldm_sprites.runtime import bundled_model_dir

    with open(f"{bundled_model_dir('demo')}/classes.json") as f:
        assert sorted(json.load(f)) == sorted(DEMO_CLASSES)
    assert len(set(DEMO_CLASSES)) == len(DEMO_CLASSES) and set(DEMO_SHAPES) == set(DEMO_CLASSES)
    assert all(DEMO_SHAPES[c] for c in DEMO_CLASSES)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes_and_dtypes(size):
    imgs, labels = make_demo_sprites(2, size=size, seed=1)
    assert imgs.shape == (2 * len(DEMO_CLASSES), size, size, 4)
    assert imgs.dtype == np.uint8
    assert labels == [c for c in DEMO_CLASSES for _ in range(2)]
    one = render_sprite("ghost", np.random.default_rng(3), size=size)
    assert one.shape == (size, size, 4) and one.dtype == np.uint8


def test_deterministic_by_seed(sprites32):
    again, labels = make_demo_sprites(N, size=32, seed=0)
    assert np.array_equal(sprites32[0], again)
    other, _ = make_demo_sprites(N, size=32, seed=1)
    assert not np.array_equal(sprites32[0], other)
    # sprite i of a class does not depend on how many are requested or on the other classes
    few, _ = make_demo_sprites(3, size=32, seed=0, classes=("water",))
    assert np.array_equal(few, sprites32[0][N : N + 3])
    a = render_sprite("fire", np.random.Generator(np.random.PCG64(7)))
    b = render_sprite("fire", np.random.Generator(np.random.PCG64(7)))
    assert np.array_equal(a, b)


def test_within_class_variety(sprites32):
    imgs, _ = sprites32
    for k in range(len(DEMO_CLASSES)):
        cls = imgs[k * N : (k + 1) * N].reshape(N, -1)
        assert len({row.tobytes() for row in cls}) == N


@pytest.mark.parametrize("size", [16, 32, 64])
def test_hard_alpha_transparent_border_and_symmetry(size):
    imgs, _ = make_demo_sprites(6, size=size, seed=2)
    alpha = imgs[..., 3]
    assert set(np.unique(alpha)) <= {0, 255}
    assert (alpha[:, 0, :] == 0).all() and (alpha[:, -1, :] == 0).all()
    assert (alpha[:, :, 0] == 0).all() and (alpha[:, :, -1] == 0).all()
    assert np.array_equal(alpha, alpha[:, :, ::-1])  # mirror-symmetric silhouettes
    covered = (alpha > 0).mean(axis=(1, 2))
    assert (covered > 0.15).all() and (covered < 0.8).all()  # a creature, not a dot or a box
    assert (imgs[..., :3][alpha == 0] == 0).all()  # clean transparent pixels


def test_dark_outline(sprites32):
    imgs, _ = sprites32
    for img in imgs[::7]:
        solid = img[..., 3] > 0
        inner = solid.copy()
        inner[1:] &= solid[:-1]
        inner[:-1] &= solid[1:]
        inner[:, 1:] &= solid[:, :-1]
        inner[:, :-1] &= solid[:, 1:]
        edge = solid & ~inner
        luma = img[..., :3].astype(int) @ np.array([299, 587, 114]) // 1000
        assert luma[edge].mean() < luma[inner].mean() - 40


def test_class_colours_differ(sprites32):
    imgs, _ = sprites32
    means = {}
    for k, name in enumerate(DEMO_CLASSES):
        block = imgs[k * N : (k + 1) * N]
        rgb = block[..., :3][block[..., 3] > 0].astype(float)
        means[name] = rgb.mean(axis=0) / rgb.mean(axis=0).sum()  # chromaticity r, g, b
    red = {c: m[0] for c, m in means.items()}
    green = {c: m[1] - (m[0] + m[2]) / 2 for c, m in means.items()}
    blue = {c: m[2] for c, m in means.items()}
    assert max(red, key=red.get) == "fire"
    assert max(green, key=green.get) == "grass"
    assert max(blue, key=blue.get) == "water"
    # electric is yellow (red+green, little blue), ghost is purple (blue and red over green)
    e = means["electric"]
    assert e[2] < 0.15 and e[1] > 0.35
    g = means["ghost"]
    assert g[2] > g[1] and g[0] > g[1]
    # ice is the palest class
    lum = {}
    for k, name in enumerate(DEMO_CLASSES):
        block = imgs[k * N : (k + 1) * N]
        lum[name] = block[..., :3][block[..., 3] > 0].astype(float).mean()
    assert max(lum, key=lum.get) == "ice"
    # every pair of classes differs clearly in mean colour
    for i, a in enumerate(DEMO_CLASSES):
        for b in DEMO_CLASSES[i + 1 :]:
            assert np.abs(means[a] - means[b]).sum() > 0.05, (a, b)


def test_unknown_class_and_bad_size():
    with pytest.raises(ValueError):
        render_sprite("rock", np.random.default_rng(0))
    with pytest.raises(ValueError):
        make_demo_sprites(1, size=15)


def test_write_demo_set(tmp_path):
    out = write_demo_set(tmp_path / "demo", n_per_class=4, size=16, seed=5)
    files = sorted((out / "images").glob("*.png"))
    assert len(files) == 4 * len(DEMO_CLASSES)
    with open(out / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["file_name", "type", "shape"]
    assert len(rows) == len(files)
    assert {r["type"] for r in rows} == set(DEMO_CLASSES)
    for r in rows:
        assert r["file_name"].startswith("images/") and (out / r["file_name"]).is_file()
        assert r["shape"] in DEMO_SHAPES[r["type"]]
        assert r["file_name"] == f"images/{r['type']}-{int(r['file_name'][-9:-4]):05d}.png"
    img = Image.open(out / rows[0]["file_name"])
    assert img.mode == "RGBA" and img.size == (16, 16)
    arrays, _ = make_demo_sprites(4, size=16, seed=5)
    assert np.array_equal(np.asarray(img), arrays[0])

    # same seed -> same bytes; a smaller rerun removes the stale demo PNGs
    again = write_demo_set(tmp_path / "again", n_per_class=4, size=16, seed=5)
    for f in files:
        assert f.read_bytes() == (again / "images" / f.name).read_bytes()
    assert (out / "metadata.csv").read_bytes() == (again / "metadata.csv").read_bytes()
    write_demo_set(out, n_per_class=2, size=16, seed=5)
    assert len(list((out / "images").glob("*.png"))) == 2 * len(DEMO_CLASSES)


def _cli():
    from ldm_sprites.cli import cli

    return cli


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "set"
    result = CliRunner().invoke(
        _cli(), ["demo-data", "--out", str(out), "--num-per-class", "3", "--size", "16"]
    )
    assert result.exit_code == 0, result.output
    assert "18" in result.output and str(out) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert len(list((out / "images").glob("*.png"))) == 18
    with open(out / "metadata.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 18


def test_cli_rejects_bad_size(tmp_path):
    result = CliRunner().invoke(_cli(), ["demo-data", "--out", str(tmp_path), "--size", "48"])
    assert result.exit_code != 0


def test_cli_unwritable_out(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)  # 0o500
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        result = CliRunner().invoke(
            _cli(), ["demo-data", "--out", str(locked / "x"), "--num-per-class", "1"]
        )
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    finally:
        locked.chmod(0o700)


def test_cli_out_under_a_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        _cli(), ["demo-data", "--out", str(blocker / "x"), "--num-per-class", "1"]
    )
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
