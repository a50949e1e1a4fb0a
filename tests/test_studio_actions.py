"""The studio's actions as plain functions (no browser, no server): fast, on the tiny model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldm_sprites import api
from ldm_sprites.errors import UserError
from ldm_sprites.studio import actions
from tests.helpers import unzoom


@pytest.fixture(scope="module")
def model(tiny_model):
    return str(tiny_model)


@pytest.fixture(scope="module")
def result(model):
    return actions.generate(model, classes=None, count=4, seed=3)


def test_generate_is_the_api_with_the_same_seed_and_model_defaults(model, result):
    pipe = actions.get_pipeline(model)
    want, names = api.generate(pipe, num=4, seed=3)
    np.testing.assert_array_equal(result.sprites, want)
    assert result.names == names
    raw, _ = api.generate(pipe, num=4, seed=3, finish="none")
    np.testing.assert_array_equal(result.raw, raw)
    # explicit options reach the sampler; the model default equals leaving it unset
    d = pipe.sampling_options()
    same = actions.generate(model, count=4, seed=3, sampler=d.sampler, steps=d.steps,
                            guidance=d.guidance, record=False)
    np.testing.assert_array_equal(same.sprites, want)
    seen = []
    actions.generate(model, count=1, steps=3, sampler="ddim", record=False,
                     progress=lambda done, total: seen.append(total))
    assert seen == [3, 3, 3]


def test_classes_progress_and_the_reverse_recording(model, tmp_path):
    cls = actions.model_classes(model)[1]
    seen = []
    res = actions.generate(model, [cls], count=3, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert res.names == [cls] * 3
    assert seen and seen[-1][0] == seen[-1][1]
    gif, strip = actions.reverse_gif(res, tmp_path)
    assert Path(gif).stat().st_size > 0 and Path(strip).stat().st_size > 0
    assert res.reverse.xt[0].shape[0] == 1  # the first sprite only


def test_refinish_equals_generating_with_those_options(model, result):
    fin = actions.finish_from("auto", max_colors=4, outline=True)
    want, _ = api.generate(actions.get_pipeline(model), num=4, seed=3, finish=fin)
    res = actions.refinish(actions.Result(result.raw, result.names, 3, result.sprites,
                                          model=result.model), fin)
    np.testing.assert_array_equal(res.sprites, want)
    # number boxes send 0 for "blank": the model's/data's value, not an invalid threshold
    assert actions.finish_from("auto", 0, False, 0) == actions.finish_from("auto")
    raw = actions.refinish(res, actions.finish_from("none"))
    np.testing.assert_array_equal(raw.sprites, result.raw)


def test_bad_requests_are_one_line_errors_before_sampling(model, tmp_path):
    calls = []
    with pytest.raises(UserError, match="unknown class"):
        actions.generate(model, ["no-such-class"], count=2, progress=lambda *a: calls.append(a))
    assert not calls
    with pytest.raises(UserError, match="count"):
        actions.generate(model, count=0)
    with pytest.raises(UserError, match="seed"):
        actions.generate(model, count=1, seed="abc")
    with pytest.raises(UserError, match="does not exist"):
        actions.get_pipeline(str(tmp_path / "nowhere"))
    # a latent model whose autoencoder is gone: the loader's one-line message
    import shutil

    from ldm_sprites.runtime import bundled_model_dir

    shutil.copytree(bundled_model_dir(), tmp_path / "m", ignore=shutil.ignore_patterns("ae"))
    with pytest.raises(UserError, match="autoencoder"):
        actions.generate(str(tmp_path / "m"), count=1)


def test_cancel_stops_at_the_next_step(model):
    flag = actions.CancelFlag()
    flag.cancel()
    with pytest.raises(actions.Cancelled):
        actions.generate(model, count=2, cancel=flag)


def test_pipelines_are_cached_by_path(model, monkeypatch, tmp_path):
    a = actions.get_pipeline(model)
    monkeypatch.chdir(Path(model).parent)
    assert actions.get_pipeline(Path(model).name) is a
    assert actions.get_pipeline(None) is actions.get_pipeline(actions.BUNDLED)


def test_zoom_is_nearest_and_unzoom_inverts_it(result):
    s = result.sprites[0]
    z = np.asarray(actions.zoom(s))
    assert z.shape[0] == s.shape[0] * actions.zoom_factor(s.shape[0])
    np.testing.assert_array_equal(unzoom(z, s.shape[0]), s)
    assert len(actions.gallery_items(result)) == 4


def test_downloads_and_the_export_zip(result, tmp_path):
    files = actions.sprite_downloads(result, tmp_path / "dl")
    assert sum(f.endswith(".png") for f in files) == 4 and sum(f.endswith(".svg") for f in files) == 4
    np.testing.assert_array_equal(np.asarray(Image.open(files[0])), result.sprites[0])
    z = actions.export_zip(result, tmp_path / "ex")
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"sheet.png", "sheet.json", "manifest.json"} <= names
    assert sum(n.startswith("png/") for n in names) == 4
    assert sum(n.startswith("svg/") for n in names) == 4
    assert any(n.startswith("stickers/") for n in names)
    assert manifest


def test_uploads_are_checked(tmp_path, result):
    good = tmp_path / "good.png"
    Image.fromarray(result.sprites[0], "RGBA").save(good)
    np.testing.assert_array_equal(actions.check_upload(good, tmp_path), result.sprites[0])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnope")
    with pytest.raises(UserError, match="not an image|damaged"):
        actions.check_upload(bad, tmp_path)
    bomb = tmp_path / "bomb.png"      # 4096x4096, a few KB on disk
    Image.new("1", (4096, 4096)).save(bomb)
    assert bomb.stat().st_size < actions.MAX_UPLOAD_BYTES
    with pytest.raises(UserError, match="too large"):
        actions.check_upload(bomb, tmp_path)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (actions.MAX_UPLOAD_BYTES + 1))
    with pytest.raises(UserError, match="MB"):
        actions.check_upload(big, tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(UserError, match="temporary folder"):
        actions.check_upload(good, other)
    with pytest.raises(UserError, match="upload"):
        actions.check_upload(None, tmp_path)


def test_edit_actions_use_the_api(model, result):
    pipe = actions.get_pipeline(model)
    src = result.sprites[0]
    got = actions.vary(model, src, strength=0.6, count=2, seed=1, steps=6)
    want, names = api.vary(pipe, src, strength=0.6, num=2, seed=1, steps=6)
    np.testing.assert_array_equal(got.sprites, want)
    cls = actions.model_classes(model)[0]
    moved = actions.vary(model, src, strength=0.8, count=2, target_class=cls, steps=6)
    assert moved.names == [cls, cls]
    painted = actions.inpaint(model, src, "4,4,6,6", count=2, seed=2, steps=6)
    outside = np.ones(src.shape[:2], bool)
    outside[4:10, 4:10] = False
    for s in painted.sprites:
        np.testing.assert_array_equal(s[outside], src[outside])
    with pytest.raises(UserError, match="region"):
        actions.inpaint(model, src, "  ")


def test_forward_process_of_a_real_sprite(tmp_path):
    sprite = actions.demo_sprite("fire", size=16)
    assert sprite.shape == (16, 16, 4) and sprite[..., 3].any()
    gif, strip = actions.forward_gif(sprite, tmp_path, frames=4)
    assert Image.open(gif).n_frames == 4 and Path(strip).exists()


