"""Upscaling (palette files and pixel cleaning: tests/test_finish_*.py)."""

import numpy as np

from ldm_sprites.export.upscale import nearest, scale2x, scale2x_once, upscale
from tests.synthetic import synthetic_sprite


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
