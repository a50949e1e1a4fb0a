"""The models that ship in the package, by name: each loads, lists its classes, samples by class
name and refuses an unknown class with the list of valid ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.runtime import BUNDLED_MODELS, bundled_model_dir, bundled_names, model_path

SHIPPED = ["demo", "dcss-items", "dcss-monsters", "dcss-tiles"]   # what this release promises


def test_the_release_ships_its_models():
    assert set(SHIPPED) <= set(bundled_names())


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_model_lists_classes_and_samples_by_name(name, tmp_path):
    res = CliRunner().invoke(cli, ["classes", "--model", name])
    assert res.exit_code == 0, res.output
    classes = res.output.split()
    with open(f"{bundled_model_dir(name)}/classes.json") as f:
        assert classes == json.load(f)
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(cli, ["generate", "--model", name, "--class", classes[0], "--num", "2",
                                   "--seed", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert Image.open(out).size[0] > 0
    res = CliRunner().invoke(cli, ["generate", "--model", name, "--class", "no-such-class",
                                   "--out", str(tmp_path / "x.png")])
    assert res.exit_code != 0
    assert "unknown class 'no-such-class'" in res.output and classes[-1] in res.output
    assert "Traceback" not in res.output


def test_a_directory_on_disk_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert model_path("demo") == bundled_model_dir("demo")
    (tmp_path / "demo" / "checkpoints").mkdir(parents=True)        # a training run named demo
    assert model_path("demo") == "demo"
    assert model_path(None) == bundled_model_dir()


def test_an_unknown_model_name_lists_the_bundled_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["classes", "--model", "dcss-itemz"])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "dcss-itemz" in res.output and all(n in res.output for n in bundled_names())
    assert set(bundled_names()) <= set(BUNDLED_MODELS)


def test_bundled_dcss_items_draws_with_soft_shadows_and_credits_its_artists():
    """The Dungeon Crawl items have drop shadows: the bundled model keeps soft alpha levels."""
    if "dcss-items" not in bundled_names():
        pytest.fail("dcss-items is not bundled")
    from ldm_sprites import api

    pipe = api.load_pipeline("dcss-items")
    sprites, _ = api.generate(pipe, classes=["potion"], num=8, seed=0)
    alpha = np.asarray(sprites)[..., 3]
    assert ((alpha > 0) & (alpha < 255)).any()
    credits = (bundled_model_dir("dcss-items") + "/CREDITS.md")
    with open(credits, encoding="utf-8") as f:
        assert "Dungeon Crawl Stone Soup" in f.read()


def test_bundled_dcss_tiles_draws_floors_that_repeat_in_one_palette(tmp_path):
    """The bundled tile model: --tileable floors wrap (seam score on the tiles written, well under
    the data's own 1.52), 8 variants share one palette and differ, and the export has a Tiled
    tileset of all 8."""
    import xml.etree.ElementTree as ET

    from ldm_sprites.data.seam import seam_summary

    if "dcss-tiles" not in bundled_names():
        pytest.fail("dcss-tiles is not bundled")
    out = tmp_path / "floor"
    res = CliRunner().invoke(cli, ["generate", "--model", "dcss-tiles", "--class", "floor",
                                   "--tileable", "--num", "8", "--seed", "0", "--out-dir",
                                   str(out), "--export", str(tmp_path / "assets")])
    assert res.exit_code == 0, res.output
    tiles = np.stack([np.array(Image.open(f).convert("RGBA")) for f in sorted(out.glob("*.png"))])
    assert tiles.shape == (8, 32, 32, 4)
    assert seam_summary(tiles)["seam"] <= 1.1
    assert len({t.tobytes() for t in tiles}) == 8
    colours = {tuple(px) for px in tiles.reshape(-1, 4) if px[3]}
    assert len(colours) <= 32                              # one shared palette of 32
    root = ET.parse(tmp_path / "assets" / "tileset.tsx").getroot()
    assert root.get("tilecount") == "8" and root.get("tilewidth") == "32"
