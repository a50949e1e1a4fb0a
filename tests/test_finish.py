"""Finishing: hard alpha, palette colours only, colour limits, cleanup that keeps lines and eyes,
determinism, and 'none' returning the input untouched."""

from __future__ import annotations

import numpy as np
import pytest

from ldm_sprites.errors import UserError
from ldm_sprites.finish import FinishOptions, PaletteInfo, compute_palette, finish_sprites
from ldm_sprites.finish.cleanup import despeckle
from ldm_sprites.finish.finish import SPECKLE_CONTRAST, finish_with_palette, options_from
from ldm_sprites.finish.snap import limit_colors, render, snap_indices, sprite_counts

BODY, DARK, EYE, SHADE = (200, 60, 40), (40, 20, 10), (250, 250, 250), (215, 70, 45)
PALETTE = np.array([BODY, DARK, EYE, SHADE, (20, 120, 220)], np.uint8)


def _noisy_batch(n=6, size=24, seed=0) -> np.ndarray:
    """Blob sprites with colour jitter and soft alpha, like a generator's raw output."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size, 4), np.uint8)
    for i in range(n):
        r = size * (0.25 + 0.1 * rng.random())
        d = np.sqrt((yy - size / 2) ** 2 + (xx - size / 2) ** 2)
        base = np.array(PALETTE[i % len(PALETTE)], float)
        rgb = base + rng.normal(0, 18, (size, size, 3))
        out[i, ..., :3] = np.clip(rgb, 0, 255)
        out[i, ..., 3] = np.clip((r + 1.5 - d) / 3 * 255, 0, 255)
    return out


def _info(**kw) -> PaletteInfo:
    return PaletteInfo(PALETTE.copy(), **kw)


def _colors(sprite) -> set[tuple[int, int, int]]:
    return {tuple(c) for c in sprite[sprite[..., 3] > 0][:, :3].tolist()}


def test_alpha_is_hard_and_every_visible_colour_is_in_the_palette():
    raw = _noisy_batch()
    out = finish_sprites(raw, _info(), FinishOptions())
    assert out.shape == raw.shape and out.dtype == np.uint8
    assert set(np.unique(out[..., 3]).tolist()) <= {0, 255}
    assert (out[out[..., 3] == 0] == 0).all()
    allowed = {tuple(c) for c in PALETTE.tolist()}
    for sprite in out:
        assert _colors(sprite) <= allowed


def test_per_sprite_and_shared_colour_limits_hold():
    raw = _noisy_batch(n=8)
    wide = np.concatenate([PALETTE, np.random.default_rng(1).integers(0, 256, (40, 3))]).astype(np.uint8)
    info = PaletteInfo(wide, colors_per_sprite=3)
    for sprite in finish_sprites(raw, info, FinishOptions()):
        assert len(_colors(sprite)) <= 3
    for sprite in finish_sprites(raw, info, FinishOptions(max_colors=2)):
        assert len(_colors(sprite)) <= 2
    out = finish_sprites(raw, info, FinishOptions(shared_palette=True, max_colors=4))
    assert len(set().union(*(_colors(s) for s in out))) <= 4


def test_colour_merging_keeps_a_rare_distant_colour():
    """The limit merges near shades first: one eye pixel far from the body colour survives."""
    idx = np.zeros((1, 8, 8), np.int16)           # BODY
    idx[0, ::2, ::3] = 3                          # SHADE, near BODY, frequent
    idx[0, 4, 4] = 2                              # EYE, one pixel, far from everything
    out = limit_colors(idx, PALETTE, per_sprite=2)
    assert set(np.unique(out).tolist()) == {0, 2}


def test_a_shared_palette_keeps_a_dark_low_contrast_tile_in_more_than_one_colour():
    """Three large, contrasty tiles and one dark tile in two close shades share 4 colours.
    By summed pixel counts the dark shades merge first (the cheapest merge: close, and one
    tile's pixels); weighed fairly (each tile's shares over its own colour variance) the dark
    tile keeps both and a contrasty tile gives up a shade it barely needs."""
    pal = np.array([(250, 250, 250), (10, 10, 10), (200, 40, 40), (40, 40, 200),
                    (30, 30, 34), (36, 36, 40)], np.uint8)
    idx = np.zeros((4, 16, 16), np.int16)
    idx[0, :, :8], idx[0, :, 8:] = 0, 1          # white | black
    idx[1, :, :8], idx[1, :, 8:] = 2, 0          # red | white
    idx[2, :, :8], idx[2, :, 8:] = 3, 1          # blue | black
    idx[3, ::2], idx[3, 1::2] = 4, 5             # dark, low contrast: two close shades
    out = limit_colors(idx, pal, per_sprite=None, shared=5)
    assert len(np.unique(out)) <= 5 and set(np.unique(out[3]).tolist()) == {4, 5}


def _sprite_with_outline_and_eye() -> np.ndarray:
    """(1, 16, 16) indices: a diamond body with a 1-px dark outline, a 1-px eye and a 1-px
    diagonal line, the features cleanup must never erode."""
    idx = np.full((1, 16, 16), -1, np.int16)
    yy, xx = np.mgrid[:16, :16]
    d = np.abs(yy - 8) + np.abs(xx - 8)
    idx[0][d <= 6] = 1                            # outline ring (diagonal steps: touches diagonally)
    idx[0][d <= 5] = 0                            # body
    idx[0, 6, 7] = 2                              # a 1-px eye
    for k in range(4):
        idx[0, 7 + k, 4 + k] = 1                  # a 1-px diagonal line inside
    return idx


def test_cleanup_keeps_a_1px_outline_a_1px_eye_and_a_diagonal_line():
    idx = _sprite_with_outline_and_eye()
    out = idx
    for _ in range(3):
        out = despeckle(out, PALETTE, SPECKLE_CONTRAST)
    assert (out == idx).all()
    # ... also through the whole stage, from RGBA.
    rgba = render(idx, PALETTE)
    assert (finish_sprites(rgba, _info(), FinishOptions()) == rgba).all()


def test_cleanup_removes_speckle_dust_and_ragged_edge_pixels():
    idx = _sprite_with_outline_and_eye()
    noisy = idx.copy()
    noisy[0, 9, 10] = 3        # a stray shade of the body: lone, low contrast
    noisy[0, 1, 1] = 0         # dust beside the sprite
    noisy[0, 8, 2] = 3         # a ragged pixel on the silhouette edge (replacing outline)
    out = despeckle(noisy, PALETTE, SPECKLE_CONTRAST)
    assert out[0, 9, 10] == 0 and out[0, 1, 1] == -1
    assert out[0, 8, 2] != 3


def test_sprites_as_clean_as_the_data_are_not_despeckled():
    from ldm_sprites.finish.speckle import isolated_shares

    clean = render(_sprite_with_outline_and_eye(), PALETTE)       # has a 1-px eye
    noisy_idx = _sprite_with_outline_and_eye()
    noisy_idx[0, 1, 1] = noisy_idx[0, 0, 14] = 0     # dust beside the sprite
    noisy_idx[0, 8, 2] = 3                           # a ragged pixel on the silhouette
    batch = np.concatenate([clean, render(noisy_idx, PALETTE)])
    shares = isolated_shares(batch)
    assert shares[1] > shares[0] > 0
    limit = float(shares.mean())          # the data is as speckled as the clean sprite, not more
    out = finish_sprites(batch, _info(stats={"isolated_p90": limit}), FinishOptions())
    assert out[0].tobytes() == clean[0].tobytes()                  # left as drawn
    assert isolated_shares(out)[1] < shares[1]                     # cleaned
    # Without the statistic (older palettes) every sprite is despeckled, as before.
    old = finish_sprites(batch, _info(), FinishOptions())
    assert old[1].tobytes() == out[1].tobytes()


def test_none_returns_the_input_bit_for_bit():
    raw = _noisy_batch()
    out = finish_sprites(raw, _info(), FinishOptions(mode="none"))
    assert out is raw
    assert finish_sprites(raw, None, FinishOptions(mode="none")) is raw


def test_same_input_same_bytes():
    raw = _noisy_batch(seed=3)
    a = finish_sprites(raw, _info(), FinishOptions(outline=True))
    b = finish_sprites(raw.copy(), _info(), FinishOptions(outline=True))
    assert a.tobytes() == b.tobytes()


def test_outline_is_one_pixel_in_the_data_outline_colour():
    idx = np.full((1, 9, 9), -1, np.int16)
    idx[0, 3:6, 3:6] = 0
    rgba = render(idx, PALETTE)
    info = _info(outline_color=DARK, stats={"outline_share": 0.9})
    out = finish_sprites(rgba, info, FinishOptions(outline=True, despeckle=False))
    ring = (out[0, ..., 3] > 0) & ~(rgba[0, ..., 3] > 0)
    assert ring.sum() == 12 and _colors(out[0][ring][None]) == {DARK}


def test_fallback_palette_from_the_sprites_when_the_model_has_none(capsys):
    raw = _noisy_batch()
    out, colors = finish_with_palette(raw, None, FinishOptions())
    assert "no saved palette" in capsys.readouterr().err
    assert set(np.unique(out[..., 3]).tolist()) <= {0, 255}
    for sprite in out:
        assert _colors(sprite) <= {tuple(c) for c in colors.tolist()}


def test_compute_palette_statistics_on_clean_pixel_art():
    from ldm_sprites.demo_art import make_demo_sprites

    data, _ = make_demo_sprites(6, size=16, seed=0)
    info = compute_palette(data)
    assert info.alpha_threshold == 128                     # hard-alpha data: the midpoint
    assert info.stats["coverage"] >= 0.99
    assert 1 <= len(info.colors) <= 256
    used = (sprite_counts(snap_indices(data, info.colors, 128), len(info.colors)) > 0).sum(1)
    assert info.colors_per_sprite == int(np.ceil(np.percentile(used, 90)))
    assert info.outline_color is not None
    assert 0 < info.stats["isolated_p90"] < 0.5                  # clean art: a few lone pixels
    # the data's own colours are already within the palette's tolerance
    err = np.abs(render(snap_indices(data, info.colors, 128), info.colors).astype(int) - data)
    assert np.percentile(err[data[..., 3] > 0][:, :3].max(-1), 99) <= 8


def test_alpha_threshold_keeps_the_visible_area_of_soft_alpha_art():
    from ldm_sprites.finish.palette import alpha_threshold_for

    assert alpha_threshold_for(np.array([0, 255, 255, 0], np.uint8)) == 128
    soft = np.array([0] * 50 + [100] * 25 + [200] * 25, np.uint8)   # area 25 * (100+200)/255
    t = alpha_threshold_for(soft)
    assert 100 < t <= 200


@pytest.mark.parametrize("kw, words", [
    (dict(max_colors=0), "--max-colors 0"), (dict(max_colors=300), "--max-colors 300"),
    (dict(mode="fancy"), "finish mode"), (dict(alpha_threshold=0), "soft alpha"),
    (dict(outline=True, max_colors=1), "outline"),
])
def test_impossible_options_are_one_line_user_errors(kw, words):
    with pytest.raises(UserError) as err:
        finish_sprites(_noisy_batch(n=1), _info(), FinishOptions(**kw))
    assert words in err.value.message and "\n" not in err.value.message


def test_options_from_command_line_values():
    assert options_from(default_mode="none").mode == "none"
    assert options_from(max_colors=8, default_mode="none").mode == "auto"   # asking turns it on
    shared = options_from(shared_palette=True, max_colors=16, default_mode="none")
    assert shared.mode == "auto" and shared.shared_palette and shared.max_colors == 16


def test_bad_input_arrays_are_user_errors():
    with pytest.raises(UserError):
        finish_sprites(np.zeros((4, 4, 4), np.uint8), _info())
    with pytest.raises(UserError):
        finish_sprites(np.zeros((1, 4, 4, 4), np.float32), _info())


def test_the_click_decorator_turns_flags_into_finish_options():
    import click
    from click.testing import CliRunner

    from ldm_sprites.cli.finish_options import finish_options, to_finish_options

    seen = {}

    @click.command()
    @click.option("--num", type=int, default=1)
    @finish_options()
    def cmd(num, **kwargs):
        seen["options"] = to_finish_options(kwargs)
        seen["rest"] = dict(kwargs, num=num)

    runner = CliRunner()
    assert runner.invoke(cmd, []).exit_code == 0
    assert seen["options"] == FinishOptions() and seen["rest"] == {"num": 1}
    res = runner.invoke(cmd, ["--finish", "none"])
    assert res.exit_code == 0 and seen["options"].mode == "none"
    res = runner.invoke(cmd, ["--max-colors", "8", "--shared-palette", "--outline", "--no-despeckle",
                              "--alpha-threshold", "100"])
    assert res.exit_code == 0
    assert seen["options"] == FinishOptions("auto", None, 8, True, 100, False, True)
    res = runner.invoke(cmd, ["--max-colors", "0"])
    assert res.exit_code == 1 and "--max-colors 0" in res.output
