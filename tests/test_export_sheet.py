"""Sprite sheet packing, the TexturePacker JSON-hash atlas and the animated GIF."""

import json

import numpy as np
import pytest
from PIL import Image

from ldm_sprites.export import ExportOptions, Sprite, export_sprites
from ldm_sprites.export.gif import TRANSPARENT_INDEX, gif_frames
from ldm_sprites.export.sheet import make_frame, pack
from tests.synthetic import synthetic_sprite


def _sprites(n=5, size=16):
    out = []
    for i in range(n):
        rgba = synthetic_sprite(i, size)
        if i % 2:  # different sizes and empty margins, to exercise trim and packing
            rgba = np.pad(rgba, ((0, 4), (3, 0), (0, 0)))
        out.append(Sprite(f"s{i}", rgba, "fire" if i < 3 else "ice", i))
    return out


def _export(tmp_path, **options):
    defaults = dict(upscale=2, svg=False, stickers=False, gif=False)
    defaults.update(options)
    export_sprites(_sprites(), tmp_path, ExportOptions(**defaults))
    atlas = json.loads((tmp_path / "sheet.json").read_text())
    return atlas, np.array(Image.open(tmp_path / atlas["meta"]["image"]))


def _rect(frame):
    f = frame["frame"]
    return f["x"], f["y"], f["x"] + f["w"], f["y"] + f["h"]


@pytest.mark.parametrize(
    "options",
    [{}, {"trim": True}, {"pot": True}, {"columns": 2, "padding": 0}, {"columns": 1, "padding": 5}],
)
def test_atlas_fields_and_rectangles(tmp_path, options):
    atlas, sheet = _export(tmp_path, **options)
    meta = atlas["meta"]
    assert meta["app"] == "ldm-sprites" and meta["format"] == "RGBA8888" and meta["scale"] == "1"
    assert meta["image"] == "sheet.png"
    assert (meta["size"]["w"], meta["size"]["h"]) == (sheet.shape[1], sheet.shape[0])
    if options.get("pot"):
        assert all(v & (v - 1) == 0 for v in meta["size"].values())
    assert sorted(atlas["frames"]) == [f"s{i}.png" for i in range(5)]
    rects = []
    for name, frame in atlas["frames"].items():
        assert set(frame) == {"frame", "rotated", "trimmed", "spriteSourceSize", "sourceSize"}
        assert frame["rotated"] is False
        x0, y0, x1, y1 = _rect(frame)
        assert 0 <= x0 < x1 <= sheet.shape[1] and 0 <= y0 < y1 <= sheet.shape[0]
        sss, src = frame["spriteSourceSize"], frame["sourceSize"]
        assert (sss["w"], sss["h"]) == (x1 - x0, y1 - y0)
        assert sss["x"] + sss["w"] <= src["w"] and sss["y"] + sss["h"] <= src["h"]
        assert frame["trimmed"] == ((sss["w"], sss["h"]) != (src["w"], src["h"]))
        rects.append((x0, y0, x1, y1))
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert atlas["animations"] == {"fire": ["s0.png", "s1.png", "s2.png"], "ice": ["s3.png", "s4.png"]}


def test_frame_pixels_reconstruct_the_sprite(tmp_path):
    atlas, sheet = _export(tmp_path, trim=True)
    sprite = _sprites()[1].rgba
    frame = atlas["frames"]["s1.png"]
    x0, y0, x1, y1 = _rect(frame)
    full = np.zeros((frame["sourceSize"]["h"], frame["sourceSize"]["w"], 4), dtype=np.uint8)
    sss = frame["spriteSourceSize"]
    full[sss["y"] : sss["y"] + sss["h"], sss["x"] : sss["x"] + sss["w"]] = sheet[y0:y1, x0:x1]
    expected = np.repeat(np.repeat(sprite, 2, 0), 2, 1)
    assert (full == expected).all()
    assert frame["trimmed"] is True


def test_trim_of_an_empty_sprite_keeps_one_pixel():
    frame = make_frame("empty.png", np.zeros((8, 8, 4), np.uint8), trim=True)
    assert frame.image.shape[:2] == (1, 1) and (frame.source_w, frame.source_h) == (8, 8)


def test_auto_columns_make_a_near_square_grid():
    frames = [make_frame(f"{i}", np.zeros((10, 10, 4), np.uint8), False) for i in range(16)]
    assert pack(frames, 0, 0, False) == (40, 40)


def test_gif_frames_share_a_palette_and_keep_transparency(tmp_path):
    sprites = [synthetic_sprite(i) for i in range(3)]
    frames = gif_frames(sprites)
    assert len(frames) == 3
    first = np.array(frames[0])
    assert (first[sprites[0][..., 3] == 0] == TRANSPARENT_INDEX).all()
    export_sprites([Sprite(f"a{i}", s) for i, s in enumerate(sprites)], tmp_path,
                   ExportOptions(upscale=1, svg=False, stickers=False, sheet=False, fps=10))
    with Image.open(tmp_path / "animation.gif") as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == 100
