"""Stage two: latent cache, latent-mode train-diffusion, generate with the recorded autoencoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from ldm_sprites.cli import cli
from test_autoencoder import train_nano_ae


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def ae_runs(tmp_path_factory, demo_dir):
    """Two different nano KL autoencoders (seeds 0 and 1)."""
    base = tmp_path_factory.mktemp("ae")
    return train_nano_ae(base / "a", demo_dir, "kl"), train_nano_ae(base / "b", demo_dir, "kl",
                                                                      "--seed", "1")


@pytest.fixture(scope="module")
def latent_model(tmp_path_factory, demo_dir, ae_runs):
    base = tmp_path_factory.mktemp("ldm")
    cfg = base / "dit.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"preset": "nano", "patch_size": 1},
                                   "train": {"steps": 4, "batch_size": 8, "checkpoint_every": 4,
                                             "sample_every": 4}}))
    out = base / "ldm"
    res = run("train-diffusion", "--config", cfg, "--ae", ae_runs[0], "--data", demo_dir,
              "--label-column", "type", "--out", out)
    assert res.exit_code == 0, res.output
    return out


def test_latent_model_records_its_autoencoder(latent_model, ae_runs):
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.modeldir import load_model_dir

    cfg = load_model_dir(latent_model).config
    ae = load_autoencoder(ae_runs[0])
    assert cfg["space"] == "latent" and cfg["ae"] == ae.reference()
    # The DiT's input comes from the autoencoder: 16 px / f 4 = 4, 4 latent channels.
    assert (cfg["model"]["input_size"], cfg["model"]["in_channels"]) == (4, 4)
    assert (latent_model / "samples" / "step-00000004.png").is_file()


def test_generate_decodes_with_the_autoencoder(latent_model, tmp_path):
    from PIL import Image

    res = run("generate", "--model", latent_model, "--class", "fire", "--num", "4",
              "--guidance", "3", "--steps", "3", "--out", tmp_path / "fire.png", "--scale", "1")
    assert res.exit_code == 0, res.output
    img = Image.open(tmp_path / "fire.png")
    assert img.mode == "RGBA" and min(img.size) >= 16     # 16 px sprites, decoded


def test_mismatched_and_missing_autoencoder(latent_model, ae_runs, tmp_path):
    res = run("generate", "--model", latent_model, "--ae", ae_runs[1], "--num", "1", "--steps", "2",
              "--out", tmp_path / "x.png")
    assert res.exit_code == 1
    assert "was trained with autoencoder" in res.output and "pass --ae" in res.output
    assert "Traceback" not in res.output
    # Move the recorded autoencoder away: a clear message naming the path.
    moved = tmp_path / "moved"
    copy = tmp_path / "ldm"
    shutil.copytree(latent_model, copy)
    from ldm_sprites.modeldir import load_model_dir

    recorded = Path(load_model_dir(copy).config["ae"]["path"])
    shutil.copytree(recorded, moved)
    shutil.rmtree(recorded.parent.parent)   # the whole AE run
    try:
        res = run("generate", "--model", copy, "--num", "1", "--steps", "2", "--out", tmp_path / "y.png")
        assert res.exit_code == 1 and str(recorded) in res.output and "pass --ae" in res.output
        # ... and --ae with the right (moved) autoencoder works.
        res = run("generate", "--model", copy, "--ae", moved, "--num", "1", "--steps", "2",
                  "--out", tmp_path / "y.png")
        assert res.exit_code == 0, res.output
    finally:
        shutil.copytree(moved, recorded)


def test_latent_cache_is_reused_and_invalidated(ae_runs, demo_dir, tmp_path):
    from ldm_sprites.autoencoder import encode_dataset, load_autoencoder
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data

    data = load_sprite_data(demo_dir, DataSpec(16, 4), cache_dir=tmp_path)
    ae = load_autoencoder(ae_runs[0], device="cpu")
    calls = []
    real_encode = ae.encode
    ae.encode = lambda x: calls.append(len(x)) or real_encode(x)

    z1 = encode_dataset(ae, data, cache_dir=tmp_path, flip=True)
    assert z1.shape == (2, len(data), 4, 4, 4) and z1.dtype == torch.float32 and calls
    # Index 1 holds the mirrored sprites encoded separately.
    direct = real_encode(_model(data.images[:2]).flip(-1))
    assert torch.allclose(z1[1, :2], direct, atol=1e-5)
    n_files = len(list(tmp_path.glob("latents-*.safetensors")))

    calls.clear()
    z2 = encode_dataset(ae, data, cache_dir=tmp_path, flip=True)
    assert not calls and torch.equal(z1, z2), "second run must reuse the cache, not the encoder"

    data.images = data.images.clone()
    data.images[0, :, 5, 5] = 255               # the data changed
    encode_dataset(ae, data, cache_dir=tmp_path, flip=True)
    assert calls and len(list(tmp_path.glob("latents-*.safetensors"))) == n_files + 1

    calls.clear()
    other = load_autoencoder(ae_runs[1], device="cpu")   # the autoencoder changed
    assert other.reference()["hash"] != ae.reference()["hash"]
    encode_dataset(other, data, cache_dir=tmp_path, flip=False)
    assert len(list(tmp_path.glob("latents-*.safetensors"))) == n_files + 2


def _model(images):
    from ldm_sprites.data.tensors import rgba_uint8_to_model

    return rgba_uint8_to_model(images, 4)
