"""Upscaling, palette files and pixel cleaning."""

import numpy as np
import pytest
from PIL import Image

from ldm_sprites.errors import UserError
from ldm_sprites.export.palette import fit_palette, load_palette, snap_alpha, snap_to_palette
from ldm_sprites.export.synthetic import synthetic_sprite
from ldm_sprites.export.upscale import nearest, scale2x, scale2x_once, upscale


def test_nearest_makes_blocks():
    sprite = synthetic_sprite(0)
    big = nearest(sprite, 3)
    assert big.shape == (48, 48, 4)
    assert (big[::3, ::3] == sprite).all() and (big[2::3, 2::3] == sprite).all()


def test_scale2x_rounds_a_diagonal_and_keeps_flat_areas():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = rgba[1, 1] = [255, 0, 0, 255]  # a diagonal
    out = scale2x_once(rgba)
    assert out.shape == (4, 4, 4)
    # The transparent corners next to the diagonal get filled in by Scale2x.
    assert out[1, 2, 3] == 255 and out[2, 1, 3] == 255
    flat = np.full((3, 3, 4), 7, dtype=np.uint8)
    assert (scale2x_once(flat) == 7).all()


def test_scale2x_factor_mixes_passes_and_nearest():
    sprite = synthetic_sprite(1)
    assert scale2x(sprite, 8).shape == (128, 128, 4)
    assert (scale2x(sprite, 6) == nearest(scale2x_once(sprite), 3)).all()
    assert (scale2x(sprite, 3) == nearest(sprite, 3)).all()
    assert (upscale(sprite, 4, "epx") == upscale(sprite, 4, "scale2x")).all()


def test_snap_alpha_threshold_and_clean_rgb():
    rgba = np.array([[[10, 20, 30, 127], [10, 20, 30, 128], [5, 5, 5, 0]]], dtype=np.uint8)
    out = snap_alpha(rgba, 128)
    assert out[0, :, 3].tolist() == [0, 255, 0]
    assert out[0, 0, :3].tolist() == [0, 0, 0] and out[0, 2, :3].tolist() == [0, 0, 0]
    assert snap_alpha(rgba, 0)[0, :2, 3].tolist() == [127, 128]  # 0 keeps soft alpha


def test_palette_files(tmp_path):
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


@pytest.mark.parametrize(
    "name, text",
    [("bad.gpl", "GIMP Palette\n255 0\n"), ("bad.gpl", "not a palette\n"), ("bad.hex", "ff00zz\n"),
     ("empty.hex", "\n"), ("bad.aco", "whatever")],
)
def test_malformed_palettes_raise_user_error(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError):
        load_palette(tmp_path / name)


def test_snap_to_palette_uses_nearest_colour_and_keeps_transparency():
    rgba = np.array([[[250, 10, 10, 255], [10, 10, 200, 255], [0, 0, 0, 0]]], dtype=np.uint8)
    palette = np.array([[255, 0, 0], [0, 0, 255], [0, 0, 0]], dtype=np.uint8)
    out = snap_to_palette(rgba, np.array([[255, 0, 0], [0, 0, 255]], dtype=np.uint8))
    assert out[0, :2, :3].tolist() == [[255, 0, 0], [0, 0, 255]]
    assert out[0, 2].tolist() == [0, 0, 0, 0]
    assert snap_to_palette(rgba, palette)[0, :, 3].tolist() == [255, 255, 0]


def test_fit_palette_has_at_most_k_colours():
    sprites = [synthetic_sprite(i) for i in range(4)]
    palette = fit_palette(sprites, 5)
    assert 1 <= len(palette) <= 5
    snapped = snap_to_palette(sprites[0], palette)
    visible = snapped[snapped[..., 3] > 0][:, :3]
    assert {tuple(c) for c in visible} <= {tuple(c) for c in palette.tolist()}
