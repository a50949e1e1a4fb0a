"""``ldmsprites export`` end to end: outputs, summary, determinism and one-line errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.export import ExportOptions, load_sprite_folder
from tests.synthetic import synthetic_sprite


@pytest.fixture
def sprite_dir(tmp_path):
    folder = tmp_path / "sprites"
    folder.mkdir()
    rows = []
    for i in range(4):
        name = f"fire-{i:03d}.png"
        Image.fromarray(synthetic_sprite(i)).save(folder / name)
        rows.append({"file": name, "class": "fire", "seed": 100 + i})
    (folder / "sprites.json").write_text(json.dumps({"sprites": rows}))
    return folder


def _run(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


def _assert_one_line_error(result, code=1):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output


def test_full_export(sprite_dir, tmp_path):
    out = tmp_path / "assets"
    result = _run(sprite_dir, "--upscale", 4, "--svg", "--stickers", "--sheet", "--shadow", "--out", out)
    assert result.exit_code == 0, result.output
    for i in range(4):
        assert Image.open(out / "png" / f"fire-{i:03d}.png").size == (64, 64)
        assert (out / "svg" / f"fire-{i:03d}.svg").is_file()
        assert (out / "stickers" / f"fire-{i:03d}.png").is_file()
        assert (out / "stickers" / f"fire-{i:03d}.svg").is_file()
    for name in ("sheet.png", "sheet.json", "animation.gif", "sticker-sheet-1.png"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["file"] for f in manifest["files"]}
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert listed == written - {"manifest.json"}
    png = next(f for f in manifest["files"] if f["file"] == "png/fire-002.png")
    assert (png["class"], png["seed"], png["sprite"]) == ("fire", 102, "fire-002")
    assert png["source"].endswith("fire-002.png")
    assert "4 upscaled PNGs" in result.output and "1 printable sticker sheet" in result.output


def test_output_is_byte_identical_across_runs(sprite_dir, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert _run(sprite_dir, "--upscale", 2, "--svg-mode", "spline", "--shared-palette",
                    "--max-colors", 6, "--out", out).exit_code == 0
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert files
    for rel in files:
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_palette_option_snaps_colours(sprite_dir, tmp_path):
    palette = tmp_path / "two.hex"
    palette.write_text("ff0000\n0000ff\n")
    out = tmp_path / "out"
    result = _run(sprite_dir, "--upscale", 1, "--palette", palette, "--no-stickers", "--no-svg", "--out", out)
    assert result.exit_code == 0, result.output
    pixels = np.array(Image.open(out / "png" / "fire-000.png"))
    colors = {tuple(c) for c in pixels[pixels[..., 3] > 0][:, :3].tolist()}
    assert colors <= {(255, 0, 0), (0, 0, 255)}
    assert (out / "palette.hex").read_text() == "ff0000\n0000ff\n"


def test_non_images_are_skipped_and_non_alpha_images_keyed(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rgb = np.full((12, 12, 3), 255, np.uint8)
    rgb[3:9, 3:9] = [10, 120, 10]
    Image.fromarray(rgb).save(folder / "opaque.png")
    Image.fromarray(synthetic_sprite(0)).save(folder / "alpha.png")
    (folder / "readme.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"not a png")
    result = _run(folder, "--upscale", 1, "--no-stickers", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Skipped 2 files" in result.output
    assert "treated the uniform border colour as background" in result.output
    keyed = np.array(Image.open(tmp_path / "out" / "png" / "opaque.png"))
    assert keyed[0, 0, 3] == 0 and keyed[5, 5, 3] == 255


def test_load_sprite_folder_reads_sidecar(sprite_dir):
    sprites = load_sprite_folder(sprite_dir)
    assert [s.name for s in sprites] == [f"fire-{i:03d}" for i in range(4)]
    assert sprites[1].class_name == "fire" and sprites[1].seed == 101
    assert sprites[0].rgba.shape == (16, 16, 4) and sprites[0].rgba.dtype == np.uint8


def test_empty_input(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.md").write_text("x")
    result = _run(tmp_path / "empty", "--out", tmp_path / "out")
    _assert_one_line_error(result)
    assert "no sprites" in result.output and "1 other file skipped" in result.output


@pytest.mark.parametrize("factor", [0, 65])
def test_upscale_out_of_range_is_a_usage_error(sprite_dir, tmp_path, factor):
    result = _run(sprite_dir, "--upscale", factor, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_malformed_palette(sprite_dir, tmp_path):
    bad = tmp_path / "bad.gpl"
    bad.write_text("GIMP Palette\n12 foo bar\n")
    result = _run(sprite_dir, "--palette", bad, "--out", tmp_path / "out")
    _assert_one_line_error(result)
    assert "line 2" in result.output


def test_the_pre_release_colors_option_is_gone(sprite_dir, tmp_path):
    result = _run(sprite_dir, "--colors", 4, "--out", tmp_path / "out")   # now --max-colors K
    assert result.exit_code == 2 and "No such option '--colors'" in result.output


def test_unwritable_output(sprite_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _run(sprite_dir, "--out", blocker / "sub")
    _assert_one_line_error(result)
    assert "cannot create directory" in result.output


def test_bad_border_colour(sprite_dir, tmp_path):
    _assert_one_line_error(_run(sprite_dir, "--border-color", "nope", "--out", tmp_path / "o"))


def test_cli_defaults_match_export_options():
    from ldm_sprites.cli.export_cmd import export

    from ldm_sprites.cli.finish_options import FINISH_PARAMS, to_finish_options

    defaults = ExportOptions()
    flags = {p.name: p.default for p in export.params if p.name not in ("input_dir", "out_dir")}
    # the finishing flags, left at their defaults, give the export's finishing defaults (off)
    assert to_finish_options(flags, default_mode="none") == defaults.finishing
    assert defaults.finishing.mode == "none" and not set(FINISH_PARAMS) & set(flags)
    for name, default in flags.items():
        assert getattr(defaults, name) == default, name


def test_library_refuses_huge_outputs_and_bad_arrays(tmp_path):
    from ldm_sprites.errors import UserError
    from ldm_sprites.export import Sprite, export_sprites

    big = Sprite("big", np.zeros((300, 300, 4), np.uint8))
    with pytest.raises(UserError, match="--upscale 27 or less"):
        export_sprites([big], tmp_path, ExportOptions(upscale=64))
    with pytest.raises(UserError, match="RGBA"):
        export_sprites([Sprite("rgb", np.zeros((8, 8, 3), np.uint8))], tmp_path)
    with pytest.raises(UserError, match="out of range"):
        export_sprites([big], tmp_path, ExportOptions(upscale=0))
    with pytest.raises(UserError, match="no sprites"):
        export_sprites([], tmp_path)


def test_alpha_threshold_0_keeps_soft_alpha_in_png_and_svg(tmp_path):
    from tests.svg_render import rasterize

    folder = tmp_path / "soft"
    folder.mkdir()
    sprite = synthetic_sprite(2)
    sprite[..., 3] = np.where(sprite[..., 3] > 0, 40 + 12 * np.arange(16)[:, None], 0)
    Image.fromarray(sprite).save(folder / "soft.png")
    result = _run(folder, "--alpha-threshold", 0, "--upscale", 2, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    png = np.array(Image.open(tmp_path / "out" / "png" / "soft.png"))
    assert ((png[..., 3] > 0) & (png[..., 3] < 255)).any()  # soft alpha kept
    svg = rasterize((tmp_path / "out" / "svg" / "soft.svg").read_text())
    assert np.abs(svg[..., 3].astype(int) - png[..., 3]).max() <= 1
    sticker_png = np.array(Image.open(tmp_path / "out" / "stickers" / "soft.png"))
    sticker_svg = rasterize((tmp_path / "out" / "stickers" / "soft.svg").read_text())
    assert np.abs(sticker_svg[..., 3].astype(int) - sticker_png[..., 3]).mean() < 1
    solid = sticker_png[..., 3] == 255  # the sprite's soft alpha over the opaque border
    assert np.abs(sticker_svg[solid, :3].astype(int) - sticker_png[solid, :3]).mean() < 1
