"""Soft alpha is kept where the data has it and only there: a hand-made set with drop shadows
goes through the palette, finishing, a palette decoder, training, sampling and export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.demo_art import make_demo_sprites
from ldm_sprites.finish.finish import FinishOptions, finish_sprites
from ldm_sprites.finish.palette import compute_palette

SHADOW = (96, 160)   # the two alpha levels of the hand-made shadows


def with_shadows(sprites: np.ndarray) -> np.ndarray:
    """Each sprite over a two-level black drop shadow: its silhouette shifted by (1, 1) at alpha
    160 and by (2, 2) at 96, only where the sprite itself is transparent."""
    out = sprites.copy()
    for level, shift in ((SHADOW[1], 1), (SHADOW[0], 2)):
        mask = np.roll(sprites[..., 3] > 0, (shift, shift), axis=(1, 2)) & (out[..., 3] == 0)
        out[mask] = (0, 0, 0, level)
    return out


def soft_share(sprites: np.ndarray) -> float:
    a = sprites[..., 3]
    return float(((a > 0) & (a < 255)).sum() / max(1, (a > 0).sum()))


@pytest.fixture(scope="module")
def shadow_dir(tmp_path_factory) -> Path:
    sprites, labels = make_demo_sprites(4, size=16, seed=1)
    sprites = with_shadows(sprites)
    root = tmp_path_factory.mktemp("shadows")
    (root / "images").mkdir()
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "type"])
        for i, (s, label) in enumerate(zip(sprites, labels)):
            Image.fromarray(s, "RGBA").save(root / "images" / f"{i:03d}.png")
            w.writerow([f"images/{i:03d}.png", label])
    return root


def _load(folder: Path) -> np.ndarray:
    return np.stack([np.array(Image.open(p).convert("RGBA")) for p in sorted(folder.glob("*.png"))])


def test_palette_has_soft_colours_only_when_the_data_has_shadows():
    hard, _ = make_demo_sprites(4, size=16, seed=1)
    assert len(compute_palette(hard).soft) == 0
    soft = compute_palette(with_shadows(hard)).soft
    assert sorted({int(a) for a in soft[:, 3]}) == list(SHADOW)
    assert (soft[:, :3] == 0).all()          # black shadows, not a colour of the sprites


def test_finishing_keeps_the_shadow_levels_and_a_cut_still_makes_alpha_hard():
    hard, _ = make_demo_sprites(4, size=16, seed=1)
    data = with_shadows(hard)
    pal = compute_palette(data)
    # a generator's version: alpha and colour jitter everywhere
    rng = np.random.default_rng(0)
    noisy = np.clip(data.astype(int) + rng.integers(-6, 7, data.shape), 0, 255).astype(np.uint8)
    noisy[data[..., 3] == 0] = 0
    out = finish_sprites(noisy, pal, FinishOptions(despeckle=False))
    assert set(np.unique(out[..., 3]).tolist()) == {0, 255, *SHADOW}
    assert abs(soft_share(out) - soft_share(data)) < 0.02
    hard_cut = finish_sprites(noisy, pal, FinishOptions(alpha_threshold=128, despeckle=False))
    assert set(np.unique(hard_cut[..., 3]).tolist()) <= {0, 255}
    # hard-alpha data: nothing soft comes out even from soft input
    out_hard = finish_sprites(noisy, compute_palette(hard), FinishOptions(despeckle=False))
    assert set(np.unique(out_hard[..., 3]).tolist()) <= {0, 255}


def test_palette_decoder_targets_keep_shadows(shadow_dir, tmp_path):
    from ldm_sprites.autoencoder.palette_head import PaletteHead

    data = _load(shadow_dir / "images")
    pal = compute_palette(data).to_json()
    head = PaletteHead(pal["colors"] + pal["soft"], 4)
    assert head.soft
    import torch

    x = torch.from_numpy(data).permute(0, 3, 1, 2).float() / 255
    x = torch.cat([x[:, :3] * x[:, 3:], x[:, 3:]], 1) * 2 - 1   # premultiplied model space
    picked = head.hard(torch.nn.functional.one_hot(head.targets(x), head.size).float().log())
    alpha = ((picked[:, 3] + 1) * 127.5).round().byte().numpy()
    assert set(np.unique(alpha).tolist()) == {0, 255, *SHADOW}


def test_soft_alpha_round_trip_through_training_sampling_and_export(shadow_dir, tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train-diffusion", "--data", str(shadow_dir), "--out", str(run),
                                   "--steps", "4", "--checkpoint-every", "4", "--preset", "nano",
                                   "--size", "16", "--batch-size", "8", "--sample-every", "0",
                                   "--label-column", "type"])
    assert res.exit_code == 0, res.output
    assert "soft colours" in res.output
    gen = tmp_path / "gen"
    res = CliRunner().invoke(cli, ["generate", "--model", str(run), "--num", "8", "--seed", "0",
                                   "--steps", "4", "--out-dir", str(gen)])
    assert res.exit_code == 0, res.output
    sprites = _load(gen)
    # finished with the palette training saved: only the data's alpha levels
    assert set(np.unique(sprites[..., 3]).tolist()) <= {0, 255, *SHADOW}
    from ldm_sprites.finish.palette import from_model_dir

    assert sorted({int(a) for a in from_model_dir(run).soft[:, 3]}) == list(SHADOW)
    # export keeps drawn shadows exactly: the training sprites themselves, and the generated ones
    for folder in (shadow_dir / "images", gen):
        exported = tmp_path / f"assets-{folder.name}"
        res = CliRunner().invoke(cli, ["export", str(folder), "--out", str(exported),
                                       "--upscale", "1", "--no-stickers", "--no-svg"])
        assert res.exit_code == 0, res.output
        assert np.array_equal(_load(exported / "png")[..., 3], _load(folder)[..., 3])
