"""Sprite cleanliness statistics on hand-made images with known answers."""

from __future__ import annotations

import numpy as np

from ldm_sprites.evaluation.cleanliness import (cleanliness_summary, isolated_mask, sprite_stats,
                                                visible_colors)


def _sprite() -> np.ndarray:
    """8x8: transparent border, a 4x4 red block with a 1-px dark outline row and one blue dot."""
    s = np.zeros((8, 8, 4), np.uint8)
    s[2:6, 2:6] = (200, 30, 30, 255)
    s[1, 2:6] = (20, 20, 20, 255)        # a 1-px line: every pixel has a like neighbour
    s[3, 3] = (30, 30, 220, 255)         # a lone pixel: isolated
    return s


def test_known_answers():
    st = sprite_stats(_sprite())
    assert st["distinct_colors"] == 3 and st["visible_colors"] == 3
    assert st["soft_alpha"] == 0.0
    assert st["isolated"] == 1 / 20          # 20 visible pixels, only the blue dot is alone
    assert isolated_mask(_sprite())[3, 3] and isolated_mask(_sprite()).sum() == 1


def test_near_colours_merge_and_soft_alpha_counts():
    s = _sprite()
    s[4, 4] = (210, 35, 25, 255)             # within 16 levels of the red: same visible colour
    s[5, 2:6, 3] = 128                       # a half-transparent row
    st = sprite_stats(s)
    assert st["distinct_colors"] == 4 and st["visible_colors"] == 3
    assert st["soft_alpha"] == 4 / 20
    assert visible_colors(np.zeros((0, 3), np.uint8)) == 0


def test_empty_sprite_and_summary():
    empty = np.zeros((4, 4, 4), np.uint8)
    assert sprite_stats(empty) == {"distinct_colors": 0.0, "visible_colors": 0.0,
                                   "soft_alpha": 0.0, "isolated": 0.0}
    summary = cleanliness_summary(np.stack([_sprite(), _sprite()]))
    assert summary["isolated"] == {"median": 0.05, "p90": 0.05}
    assert summary["distinct_colors"]["median"] == 3.0
