"""Palettes on disk: user palette files, the palette a training run saves with every checkpoint,
older model directories without one, `ldmsprites info`, and `export` with the finishing flags."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.errors import UserError
from ldm_sprites.finish import FinishOptions, finish_sprites, from_model_dir, load_palette
from ldm_sprites.finish.palette import PALETTE_FILES, PALETTE_JSON, compute_palette, palette_files_for
from ldm_sprites.finish.palette_files import gpl_text, hex_text, swatch_image
from ldm_sprites.finish.snap import hard_alpha, snap_to_palette
from ldm_sprites.modeldir import list_checkpoints


def test_palette_files_round_trip(tmp_path):
    colors = np.array([[255, 0, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    (tmp_path / "p.gpl").write_text(gpl_text(colors, "t"))
    (tmp_path / "p.hex").write_text(hex_text(colors))
    (tmp_path / "p.txt").write_text("; paint.net\nFFFF0000\nff0000ff\nFF090909\n")
    swatch_image(colors).save(tmp_path / "p.png")
    for name in ("p.gpl", "p.hex", "p.txt", "p.png"):
        assert load_palette(tmp_path / name).tolist() == colors.tolist(), name


def test_gimp_hex_and_swatch_parsing(tmp_path):
    gpl = tmp_path / "p.gpl"
    gpl.write_text("GIMP Palette\nName: test\nColumns: 2\n#\n255 0 0\tRed\n  0 0 255 Blue\n")
    assert load_palette(gpl).tolist() == [[255, 0, 0], [0, 0, 255]]
    hexfile = tmp_path / "p.hex"
    hexfile.write_text("ff0000\n#00ff00\n\n")
    assert load_palette(hexfile).tolist() == [[255, 0, 0], [0, 255, 0]]
    swatch = np.zeros((1, 4, 4), dtype=np.uint8)
    swatch[0, :, 3] = [255, 255, 255, 0]
    swatch[0, :, :3] = [[9, 9, 9], [1, 2, 3], [9, 9, 9], [50, 50, 50]]
    Image.fromarray(swatch).save(tmp_path / "swatch.png")
    assert load_palette(tmp_path / "swatch.png").tolist() == [[9, 9, 9], [1, 2, 3]]


@pytest.mark.parametrize("name, text", [
    ("bad.gpl", "GIMP Palette\n255 0\n"), ("bad.gpl", "not a palette\n"), ("bad.hex", "ff00zz\n"),
    ("empty.hex", "\n"), ("bad.aco", "whatever"), ("bad.png", "not an image"),
    ("big.hex", "".join(f"{i:06x}\n" for i in range(300))),
])
def test_malformed_palettes_are_one_line_user_errors(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError) as err:
        load_palette(tmp_path / name)
    assert name in err.value.message and "\n" not in err.value.message
    with pytest.raises(UserError):
        load_palette(tmp_path / "missing.hex")


def test_snap_helpers_keep_transparency_clean():
    rgba = np.array([[[250, 10, 10, 255], [10, 10, 200, 127], [5, 5, 5, 0]]], dtype=np.uint8)
    out = snap_to_palette(rgba, np.array([[255, 0, 0], [0, 0, 255]], dtype=np.uint8))
    assert out[0, :2, :3].tolist() == [[255, 0, 0], [0, 0, 255]] and out[0, 2].tolist() == [0] * 4
    assert out[0, :, 3].tolist() == [255, 127, 0]
    hard = hard_alpha(rgba, 128)
    assert hard[0, :, 3].tolist() == [255, 0, 0] and hard[0, 1].tolist() == [0] * 4
    assert hard_alpha(rgba, 0)[0, 1, 3] == 127  # 0 keeps soft alpha (export's --alpha-threshold 0)


def test_a_training_run_saves_its_palette_in_every_checkpoint(tiny_model):
    checkpoints = list_checkpoints(tiny_model)
    assert checkpoints
    for ck in checkpoints:
        assert all((ck / name).is_file() for name in PALETTE_FILES)
    info = from_model_dir(tiny_model)   # a run resolves to its newest checkpoint
    assert info is not None and info.source == "training data"
    assert info.alpha_threshold == 128 and info.colors_per_sprite >= 1
    assert load_palette(checkpoints[-1] / "palette.gpl").tolist() == info.colors.tolist()
    assert load_palette(checkpoints[-1] / "palette.hex").tolist() == info.colors.tolist()


def test_train_ae_saves_the_datas_palette_too(tmp_path, demo_dir, tiny_model):
    """The autoencoder's palette is its training data's: the one a diffusion run on the same
    sprites (16 px) saves."""
    from tests.test_autoencoder import train_nano_ae

    run = train_nano_ae(tmp_path, demo_dir)
    info, data = from_model_dir(run), from_model_dir(tiny_model)
    assert info is not None and info.source == "training data"
    assert info.colors.tolist() == data.colors.tolist() and info.stats == data.stats


def test_a_model_without_a_palette_finishes_with_the_fallback(tiny_model, tmp_path, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(list_checkpoints(tiny_model)[-1], bare)
    for name in PALETTE_FILES:
        (bare / name).unlink()
    assert from_model_dir(bare) is None
    raw = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 4), dtype=np.uint8)
    out = finish_sprites(raw, from_model_dir(bare), FinishOptions())
    assert "no saved palette" in capsys.readouterr().err
    assert set(np.unique(out[..., 3]).tolist()) <= {0, 255}


def test_a_damaged_palette_json_is_a_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / PALETTE_JSON).write_text(json.dumps({"colors": ["#zzzzzz"]}))
    with pytest.raises(UserError) as err:
        from_model_dir(tmp_path)
    assert "damaged" in err.value.message


def test_palette_json_round_trip(tmp_path):
    from ldm_sprites.demo_art import make_demo_sprites

    info = compute_palette(make_demo_sprites(3, size=16)[0])
    (tmp_path / "config.json").write_text("{}")
    for name, data in palette_files_for(info).items():
        (tmp_path / name).write_bytes(data)
    back = from_model_dir(tmp_path)
    assert back.colors.tolist() == info.colors.tolist()
    assert (back.alpha_threshold, back.colors_per_sprite, back.outline_color) == \
        (info.alpha_threshold, info.colors_per_sprite, info.outline_color)


def test_info_on_the_bundled_model_prints_the_palette_and_writes_a_swatch(tmp_path):
    res = CliRunner().invoke(cli, ["info", "--swatch", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    assert "classes:  electric, fire" in res.output and "sampling:" in res.output
    bundled = from_model_dir(__import__("ldm_sprites.runtime", fromlist=["x"])
                             .bundled_model_dir())
    assert f"palette:  {len(bundled.colors)} colours" in res.output
    assert f"decoder:  palette ({len(bundled.colors)} colours + transparent" in res.output
    assert load_palette(tmp_path / "s.png").tolist() == bundled.colors.tolist()


@pytest.fixture
def raw_dir(tmp_path):
    """A folder of noisy, soft-alpha sprites as a generator leaves them."""
    from tests.test_finish import _noisy_batch

    folder = tmp_path / "raw"
    folder.mkdir()
    for i, sprite in enumerate(_noisy_batch(n=4, size=16)):
        Image.fromarray(sprite, "RGBA").save(folder / f"s-{i}.png")
    return folder


def _pngs(out):
    return [np.array(Image.open(p)) for p in sorted((out / "png").glob("*.png"))]


def test_export_with_finishing_flags_end_to_end(raw_dir, tiny_model, tmp_path):
    palette = tmp_path / "four.hex"
    palette.write_text("c83c28\n28140a\nfafafa\n1478dc\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["export", str(raw_dir), "--out", str(out), "--upscale", "1",
                                   "--no-svg", "--no-stickers", "--no-gif", "--finish", "auto",
                                   "--palette", str(palette), "--max-colors", "3", "--outline"])
    assert res.exit_code == 0, res.output
    allowed = {tuple(c) for c in load_palette(palette).tolist()}
    for sprite in _pngs(out):
        assert set(np.unique(sprite[..., 3]).tolist()) <= {0, 255}
        colors = {tuple(c) for c in sprite[sprite[..., 3] > 0][:, :3].tolist()}
        assert colors <= allowed and len(colors) <= 3
    assert (out / "palette.hex").read_text() == palette.read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["finishing"]["max_colors"] == 3

    shared = tmp_path / "shared"
    res = CliRunner().invoke(cli, ["export", str(raw_dir), "--out", str(shared), "--upscale", "1",
                                   "--no-svg", "--no-stickers", "--model", str(tiny_model),
                                   "--shared-palette", "--max-colors", "5"])
    assert res.exit_code == 0, res.output
    used = set().union(*({tuple(c) for c in s[s[..., 3] > 0][:, :3].tolist()} for s in _pngs(shared)))
    assert len(used) <= 5 and used <= {tuple(c) for c in load_palette(shared / "palette.hex").tolist()}


def test_export_without_finishing_keeps_colours_and_alpha_unless_a_cut_is_asked(raw_dir, tmp_path):
    out = tmp_path / "plain"
    res = CliRunner().invoke(cli, ["export", str(raw_dir), "--out", str(out), "--upscale", "1",
                                   "--no-svg", "--no-stickers", "--no-sheet", "--no-gif"])
    assert res.exit_code == 0, res.output
    src = np.array(Image.open(raw_dir / "s-0.png"))
    assert (_pngs(out)[0] == hard_alpha(src, 0)).all()           # soft alpha as drawn
    assert not (out / "palette.hex").exists()
    cut = tmp_path / "cut"
    res = CliRunner().invoke(cli, ["export", str(raw_dir), "--out", str(cut), "--upscale", "1",
                                   "--no-svg", "--no-stickers", "--no-sheet", "--no-gif",
                                   "--alpha-threshold", "128"])
    assert res.exit_code == 0, res.output
    assert (_pngs(cut)[0] == hard_alpha(src, 128)).all()


@pytest.mark.parametrize("args, words", [
    (["--max-colors", "0"], "--max-colors 0"), (["--max-colors", "999"], "--max-colors 999"),
    (["--finish", "auto", "--alpha-threshold", "0"], "soft alpha"),
    (["--palette", "missing.hex"], "does not exist"),
])
def test_export_impossible_finishing_options_are_one_line_errors(raw_dir, tmp_path, args, words):
    res = CliRunner().invoke(cli, ["export", str(raw_dir), "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 1 and words in res.output
    assert res.output.strip().count("\n") == 0 and "Traceback" not in res.output


def test_bundling_keeps_the_palette(tiny_model, tmp_path):
    from ldm_sprites.diffusion.bundle import bundle_model

    out = bundle_model(tiny_model, tmp_path / "bundled")
    assert all((out / name).is_file() for name in PALETTE_FILES)
    assert from_model_dir(out).colors.tolist() == from_model_dir(tiny_model).colors.tolist()


def test_training_palette_reads_only_its_subset_of_a_memory_mapped_data_set(tmp_path):
    # Training caches are memory maps that may exceed RAM: the palette statistics must read the
    # evenly spaced subset only, not copy the whole set channels-last (issue 17's RssAnon check).
    import tracemalloc

    from ldm_sprites.finish.palette import MAX_SPRITES, training_palette

    n = 32 * MAX_SPRITES          # 64 MiB of 16x16 sprites; the statistics' own work is ~1/4 of it
    images = np.lib.format.open_memmap(tmp_path / "sprites.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, 4, 16, 16))
    rng = np.random.default_rng(0)
    tile = np.zeros((4, 16, 16), np.uint8)
    tile[:, 4:12, 4:12] = 255
    for i in range(0, n, 1024):
        block = np.broadcast_to(tile, (1024, 4, 16, 16)).copy()
        block[:, :3, 4:12, 4:12] = rng.integers(0, 4, (1024, 3, 1, 1)) * 80
        images[i:i + 1024] = block
    images.flush()
    full_bytes = images.nbytes
    tracemalloc.start()
    pal = training_palette(images)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < full_bytes / 2, (peak, full_bytes)
    picked = images[np.linspace(0, n - 1, MAX_SPRITES).round().astype(int)].transpose(0, 2, 3, 1)
    assert pal.to_json() == compute_palette(np.ascontiguousarray(picked)).to_json()
