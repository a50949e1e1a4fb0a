import csv
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ldm_sprites.data.dataset import DataSpec, discover, load_sprite_data
from ldm_sprites.data.images import ImageDecodeError, fit_square, load_rgba
from ldm_sprites.data.tensors import augment, model_to_rgba_uint8, rgba_uint8_to_model
from ldm_sprites.errors import UserError


def _sprite(size=12, color=(200, 40, 40)):
    a = np.zeros((size, size, 4), np.uint8)
    a[2:-2, 3:-3, :3] = color
    a[2:-2, 3:-3, 3] = 255
    return a


def test_every_image_mode_becomes_rgba(tmp_path):
    base = _sprite()
    rgba = Image.fromarray(base, "RGBA")
    rgba.save(tmp_path / "rgba.png")
    rgba.convert("RGB").save(tmp_path / "rgb.jpg", quality=95)
    rgba.convert("L").save(tmp_path / "grey.png")
    rgba.convert("LA").save(tmp_path / "la.png")
    rgba.convert("1").save(tmp_path / "bw.png")
    rgba.convert("RGB").convert("CMYK").save(tmp_path / "cmyk.jpg")
    pal = rgba.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    pal.info["transparency"] = pal.getpixel((0, 0))
    pal.save(tmp_path / "pal.png", transparency=pal.getpixel((0, 0)))
    rgba.save(tmp_path / "anim.gif", save_all=True, append_images=[rgba.rotate(90)])
    rgba.save(tmp_path / "w.webp", lossless=True)
    grey16 = (np.asarray(rgba.convert("L"), np.uint16) * 257)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    for f in sorted(tmp_path.iterdir()):
        out = load_rgba(f)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 4, f.name
    # palette transparency is kept, 16-bit is scaled (not clipped to 255 = white)
    assert load_rgba(tmp_path / "pal.png")[0, 0, 3] == 0
    assert load_rgba(tmp_path / "w.webp")[0, 0, 3] == 0
    g16 = load_rgba(tmp_path / "grey16.png")
    g8 = load_rgba(tmp_path / "grey.png")
    assert np.abs(g16[..., 0].astype(int) - g8[..., 0]).max() <= 1
    assert load_rgba(tmp_path / "anim.gif").shape == (12, 12, 4)


def test_broken_files_raise_decode_error(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    buf = tmp_path / "ok.png"
    Image.fromarray(_sprite(32)).save(buf)
    (tmp_path / "trunc.png").write_bytes(buf.read_bytes()[:60])
    for name in ("empty.png", "text.png", "trunc.png"):
        with pytest.raises(ImageDecodeError):
            load_rgba(tmp_path / name)


def test_fit_square_crops_transparent_margin_without_resampling():
    big = np.zeros((68, 68, 4), np.uint8)
    big[10:50, 14:44] = (9, 99, 199, 255)
    out = fit_square(big, 64)
    assert out.shape == (64, 64, 4)
    assert (out[..., 3] == 255).sum() == 40 * 30  # pixel-exact: nothing was resampled
    assert set(np.unique(out[..., 2])) <= {0, 199}


def test_fit_square_keeps_aspect_when_content_is_too_large():
    wide = np.full((20, 80, 4), 255, np.uint8)
    out = fit_square(wide, 40, "nearest")
    rows = np.nonzero(out[..., 3].any(1))[0]
    cols = np.nonzero(out[..., 3].any(0))[0]
    assert len(cols) == 40 and len(rows) == 10
    assert out[0, 0, 3] == 0  # padded with transparency


def test_premultiplied_round_trip():
    rgba = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rgba[..., 3] > 128, 255, 0)
    rgba[rgba[..., 3] == 0] = 0
    x = rgba_uint8_to_model(torch.from_numpy(rgba).permute(0, 3, 1, 2))
    assert x.min() >= -1 and x.max() <= 1
    back = model_to_rgba_uint8(x)
    np.testing.assert_array_equal(back, rgba)
    # transparent pixels are (-1, -1, -1, -1) whatever colour they held
    odd = rgba.copy()
    odd[odd[..., 3] == 0, :3] = 77
    y = rgba_uint8_to_model(torch.from_numpy(odd).permute(0, 3, 1, 2))
    torch.testing.assert_close(x, y)


def test_augment_flip_and_hue_stay_in_range():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 4, 8, 8) * 2 - 1
    y = augment(x, g, flip=True, hue_jitter=0.5)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    torch.testing.assert_close(y[:, 3], torch.where(
        (y[:, 3] == x[:, 3]).all(-1).all(-1)[:, None, None], x[:, 3], x[:, 3].flip(-1)))
    alpha01 = (y[:, 3:] + 1) / 2
    assert torch.all((y[:, :3] + 1) / 2 <= alpha01 + 1e-6)  # still premultiplied


def test_augment_shift_moves_whole_pixels_per_sample_and_is_seeded():
    x = torch.full((16, 4, 12, 12), -1.0)
    x[:, :, 5, 6] = 1.0                                   # one opaque pixel per sprite
    y = augment(x, torch.Generator().manual_seed(3), flip=False, shift=2)
    again = augment(x, torch.Generator().manual_seed(3), flip=False, shift=2)
    torch.testing.assert_close(y, again)
    pos = [tuple(int(v) for v in (yi[3] == 1).nonzero()[0]) for yi in y]
    assert all((yi[3] == 1).sum() == 1 for yi in y)       # moved, nothing lost or blurred
    offsets = {(r - 5, c - 6) for r, c in pos}
    assert all(abs(dr) <= 2 and abs(dc) <= 2 for dr, dc in offsets)
    assert len(offsets) > 4                               # each sprite gets its own shift
    torch.testing.assert_close(augment(x, torch.Generator(), flip=False, shift=0), x)


def _write(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGBA").save(path)


def test_three_layouts(tmp_path):
    meta = tmp_path / "meta"
    for i, cls in enumerate(["fire", "water", "fire"]):
        _write(meta / "images" / f"{i}.png", _sprite())
    with open(meta / "metadata.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file_name", "type1", "extra"])
        for i, cls in enumerate(["fire", "water", "fire"]):
            w.writerow([f"images/{i}.png", cls, "x"])
    files, labels, layout = discover(meta, "type1")
    assert layout == "imagefolder" and labels == ["fire", "water", "fire"]

    folders = tmp_path / "folders"
    for cls in ("a", "b"):
        for i in range(2):
            _write(folders / cls / f"{i}.png", _sprite())
    files, labels, layout = discover(folders, None)
    assert layout == "classfolders" and labels == ["a", "a", "b", "b"]

    flat = tmp_path / "flat"
    for i in range(3):
        _write(flat / f"{i}.png", _sprite())
    (flat / "notes.txt").write_text("ignored")
    files, labels, layout = discover(flat, None)
    assert layout == "flat" and labels is None and len(files) == 3

    data = load_sprite_data(meta, DataSpec(size=16, label_column="type1"))
    assert data.images.shape == (3, 4, 16, 16) and data.images.dtype == torch.uint8
    assert data.classes == ["fire", "water"] and data.labels.tolist() == [0, 1, 0]


def test_cache_is_reused_and_invalidated(tmp_path, demo_dir):
    cache = tmp_path / "cache"
    spec = DataSpec(size=16, label_column="type")
    a = load_sprite_data(demo_dir, spec, cache_dir=cache)
    assert a.cache_file is not None and a.cache_file.is_file()
    b = load_sprite_data(demo_dir, spec, cache_dir=cache)
    assert b.cache_file == a.cache_file and torch.equal(a.images, b.images)
    c = load_sprite_data(demo_dir, DataSpec(size=32, label_column="type"), cache_dir=cache)
    assert c.cache_file != a.cache_file and c.images.shape[-1] == 32
    # touching a file (new mtime) invalidates the cache
    img = sorted((demo_dir / "images").iterdir())[0]
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    d = load_sprite_data(demo_dir, spec, cache_dir=cache)
    assert d.cache_file != a.cache_file
    assert torch.equal(d.images, a.images)


def test_bad_inputs_give_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_sprite_data(tmp_path / "nope", DataSpec())
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images found"):
        load_sprite_data(tmp_path / "empty", DataSpec())
    nofn = tmp_path / "nofn"
    nofn.mkdir()
    (nofn / "metadata.csv").write_text("path,type\na.png,fire\n")
    with pytest.raises(UserError, match="file_name"):
        load_sprite_data(nofn, DataSpec())
    nocol = tmp_path / "nocol"
    nocol.mkdir()
    _write(nocol / "a.png", _sprite())
    (nocol / "metadata.csv").write_text("file_name,type1\na.png,fire\n")
    with pytest.raises(UserError, match="did you mean 'type1'"):
        load_sprite_data(nocol, DataSpec(label_column="type"))
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(3):
        (junk / f"{i}.png").write_text("not a png")
    _write(junk / "ok.png", _sprite())
    with pytest.raises(UserError, match="could not be read"):
        load_sprite_data(junk, DataSpec(size=16), use_cache=False)


def test_a_few_corrupt_files_are_skipped_with_a_warning(tmp_path, capsys):
    d = tmp_path / "mostly_ok"
    for i in range(12):
        _write(d / f"{i:02d}.png", _sprite())
    (d / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    data = load_sprite_data(d, DataSpec(size=16), use_cache=False, max_bad_fraction=0.1)
    assert len(data) == 12
    assert "skipped 1 unreadable" in capsys.readouterr().err


def test_channels_3_composites_on_background(tmp_path):
    d = tmp_path / "rgb"
    _write(d / "a.png", _sprite())
    data = load_sprite_data(d, DataSpec(size=12, channels=3, background="#00ff00"), use_cache=False)
    px = data.images[0, :, 0, 0].tolist()
    assert px == [0, 255, 0, 255]
