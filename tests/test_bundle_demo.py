"""Bundled models travel with their autoencoder; `ldmsprites demo` runs the whole job."""

import json
import shutil

import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.diffusion.bundle import bundle_model
from ldm_sprites.cli import cli
from ldm_sprites.modeldir import load_model_dir
from tests.test_autoencoder import train_nano_ae


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def latent_run(tmp_path_factory, demo_dir):
    base = tmp_path_factory.mktemp("bundle")
    ae = train_nano_ae(base, demo_dir, "kl")
    cfg = base / "dit.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"preset": "nano", "patch_size": 1},
                                   "train": {"steps": 2, "batch_size": 8, "checkpoint_every": 2,
                                             "sample_every": 0},
                                   "sample": {"steps": 3}}))
    out = base / "ldm"
    res = run("train-diffusion", "--config", cfg, "--ae", ae, "--data", demo_dir,
              "--label-column", "type", "--out", out)
    assert res.exit_code == 0, res.output
    return out


def test_bundle_is_self_contained_fp16_and_moves(latent_run, tmp_path):
    bundled = bundle_model(latent_run, tmp_path / "b" / "model")
    files = sorted(p.relative_to(bundled).as_posix() for p in bundled.rglob("*") if p.is_file())
    palette = ["palette.gpl", "palette.hex", "palette.json"]  # the training data's, kept
    assert files == ["ae/classes.json", "ae/config.json", "ae/ema.safetensors",
                     *(f"ae/{p}" for p in palette), "classes.json", "config.json",
                     "ema.safetensors", *palette]
    md = load_model_dir(bundled)
    assert md.config["ae"]["path"] == "ae"
    assert all(v.dtype == torch.float16 for v in md.weights("ema").values() if v.is_floating_point())
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(bundled, moved)
    shutil.rmtree(tmp_path / "b")
    res = run("generate", "--model", moved, "--class", "ice", "--num", 2, "--steps", 2,
              "--out", tmp_path / "g.png")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "g.png").mode == "RGBA"


def test_bundle_command_keeps_fp32_and_stores_sampling_defaults(latent_run, tmp_path):
    out = tmp_path / "cli" / "model"
    res = run("bundle", latent_run, out, "--fp32", "--sample-steps", 7,
              "--guidance-interval", "0.3,5")
    assert res.exit_code == 0, res.output
    assert f"-> {out} (" in res.output and '"path": "ae"' in res.output
    md = load_model_dir(out)
    assert md.config["sample"]["steps"] == 7
    assert (md.config["sample"]["guidance_sigma_min"], md.config["sample"]["guidance_sigma_max"]) \
        == (0.3, 5.0)
    assert all(v.dtype == torch.float32 for v in md.weights("ema").values() if v.is_floating_point())
    bad = run("bundle", latent_run, tmp_path / "bad", "--guidance-interval", "3")
    assert bad.exit_code == 2 and "LO,HI" in bad.output and not (tmp_path / "bad").exists()


def test_bundled_and_original_sample_alike(latent_run, tmp_path):
    bundled = bundle_model(latent_run, tmp_path / "m")
    outs = []
    for model in (latent_run, bundled):
        res = run("generate", "--model", model, "--class", "fire", "--num", 2, "--steps", 3,
                  "--out-dir", tmp_path / model.name)
        assert res.exit_code == 0, res.output
        outs.append(torch.tensor(list(Image.open(tmp_path / model.name / "fire-000.png").getdata()),
                                 dtype=torch.float32))
    # fp16 weights change the result by rounding only
    assert (outs[0] - outs[1]).abs().mean() < 3.0


def test_demo_command_writes_grid_gif_and_assets(latent_run, tmp_path):
    res = run("demo", "--model", latent_run, "--out", tmp_path / "demo", "--per-class", 1)
    assert res.exit_code == 0, res.output
    d = tmp_path / "demo"
    grid = Image.open(d / "grid.png")
    assert grid.mode == "RGBA"
    gif = Image.open(d / "reverse.gif")
    assert gif.n_frames >= 3
    sheet = json.loads((d / "assets" / "sheet.json").read_text())
    assert len(sheet["frames"]) == 6
    assert len(list((d / "assets" / "stickers").glob("*.svg"))) == 6


def test_the_default_model_is_bundled_with_its_autoencoder():
    from ldm_sprites.runtime import ASSETS_DIR, bundled_model_dir

    path = bundled_model_dir()
    assert path == bundled_model_dir("demo") == str(ASSETS_DIR / "demo-model")
    md = load_model_dir(path)
    assert md.classes and md.config["ae"]["path"] == "ae"
    assert load_model_dir(md.path / "ae", expect_kind="autoencoder").config["latent_shape"]


def test_without_a_bundled_model_no_model_is_a_one_line_error_naming_model(tmp_path, monkeypatch):
    from ldm_sprites import runtime
    from ldm_sprites.errors import UserError
    from tests.hardening import assert_one_line_error

    monkeypatch.setattr(runtime, "ASSETS_DIR", tmp_path / "no-assets")   # an install without it
    with pytest.raises(UserError, match="no --model given and no bundled demo model"):
        runtime.bundled_model_dir()
    assert_one_line_error(run("generate", "--class", "fire", "--out", tmp_path / "g.png"),
                          "--model")
    assert not (tmp_path / "g.png").exists()


def test_latent_model_records_a_clip_bound_and_samples_stay_on_scale(latent_run):
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    md = load_model_dir(latent_run)
    assert md.config["space"] == "latent" and md.config["x0_clip"] > 0.5
    pipe = DiffusionPipeline.from_pretrained(latent_run, device="cpu")
    seen = []
    pipe.sample([0, 1], guidance=3.0, steps=4, seed=0,
                callback=lambda i, x, x0: seen.append(x0.abs().max().item()))
    # ε-prediction divides by sqrt(ᾱ) ≈ 5e-5 at t = T-1; the bound keeps x̂_0 on the data's scale
    assert max(seen) <= md.config["x0_clip"] + 1e-5
