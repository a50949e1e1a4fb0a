"""Every example script runs (in its tiny mode) and writes what it says."""

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _run(script, *args, cwd=ROOT):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / script), *map(str, args)],
                         cwd=cwd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_train_on_folder_tiny(tmp_path):
    out = _run("train_on_folder.py", "--tiny", "--out", tmp_path)
    assert "samples" in out
    grid = Image.open(tmp_path / "samples.png")
    assert grid.mode == "RGBA" and grid.width > 64


def test_guidance_sweep(tiny_model, tmp_path):
    _run("guidance_sweep.py", "--model", tiny_model, "--classes", "fire,ice", "--scales", "1,3",
         "--steps", 3, "--out", tmp_path / "s.png")
    img = Image.open(tmp_path / "s.png")
    # 2 rows x 2 columns of 16px sprites at x4 with 1px gaps
    assert img.size == (2 * 64 + 3, 2 * 64 + 3)


def test_interpolate_seeds(tiny_model, tmp_path):
    _run("interpolate_seeds.py", "--model", tiny_model, "--class", "water", "--frames", 4,
         "--steps", 3, "--out", tmp_path / "i.png")
    assert Image.open(tmp_path / "i.png").size == (4 * 64 + 5, 64 + 2)


def test_sticker_sheet(tiny_model, tmp_path):
    out = _run("sticker_sheet.py", "--model", tiny_model, "--class", "ghost", "--num", 2,
               "--steps", 3, "--out", tmp_path / "st")
    assert "sticker-sheet" in out
    assert len(list((tmp_path / "st" / "stickers").glob("*.png"))) == 2


def test_slerp_endpoints_and_norm():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from interpolate_seeds import slerp
    finally:
        sys.path.pop(0)
    import torch

    a, b = torch.randn(4, 8, 8), torch.randn(4, 8, 8)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-5, rtol=1e-5)
    mid = slerp(a, b, 0.5)
    assert mid.norm() > 0.9 * min(a.norm(), b.norm())  # slerp keeps the norm; lerp would shrink it


def test_edit_sprites(tiny_model, demo_dir, tmp_path):
    sprite = sorted((demo_dir / "images").glob("grass-*.png"))[0]
    out = _run("edit_sprites.py", sprite, "--model", tiny_model, "--to-class", "fire", "--num", 2,
               "--steps", 3, "--out", tmp_path / "e.png")
    assert "5 rows of 2 edits" in out
    # 5 rows (3 strengths, inpainted, class transfer) x (input + 2) of 16 px sprites at x4
    assert Image.open(tmp_path / "e.png").size == (3 * 64 + 4, 5 * 64 + 6)


def test_tile_map_from_the_bundled_tile_model(tmp_path):
    """A 6x5 map of 2 variants per class: the right size, and every border cell one of the
    two wall variants."""
    import numpy as np

    out = _run("tile_map.py", "--size", "6x5", "--variants", 2, "--steps", 3, "--scale", 1,
               "--out", tmp_path / "map.png")
    assert "6x5 map" in out
    image = np.array(Image.open(tmp_path / "map.png").convert("RGBA"))
    assert image.shape == (5 * 32, 6 * 32, 4)
    cells = image.reshape(5, 32, 6, 32, 4).transpose(0, 2, 1, 3, 4)
    border = [cells[0, x].tobytes() for x in range(6)] + [cells[y, 0].tobytes() for y in range(5)]
    assert len(set(border)) <= 2
    assert cells[2, 2].tobytes() not in set(border)       # the room is not wall
