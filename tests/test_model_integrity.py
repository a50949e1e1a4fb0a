"""A model directory is checked against what it recorded when it was written: every file's hash
(DiT, guide, autoencoder), the autoencoder's content hash, the encoder a replacement decoder must
share, and the format version. Each refusal is one line and a non-zero exit. Copies of the
bundled model in tmp_path are tampered with; the bundled one is never touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.hardening import assert_one_line_error, run
from ldm_sprites.autoencoder import load_autoencoder
from ldm_sprites.diffusion.pipeline import DiffusionPipeline
from ldm_sprites.modeldir import FILES, FORMAT_VERSION, hash_model_dir, load_model_dir
from ldm_sprites.runtime import bundled_model_dir

GEN = ["--class", "fire", "--num", "1", "--steps", "2", "--finish", "none"]


@pytest.fixture
def model(tmp_path) -> Path:
    """A copy of the bundled model."""
    return Path(shutil.copytree(bundled_model_dir(), tmp_path / "model"))


def _flip_tail(path: Path, n: int = 8) -> None:
    data = bytearray(path.read_bytes())
    data[-n:] = bytes(b ^ 0xFF for b in data[-n:])
    path.write_bytes(bytes(data))


def _edit_config(path: Path, **changes) -> dict:
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(changes)
    (path / "config.json").write_text(json.dumps(cfg))
    return cfg


def _generate(model_dir: Path, tmp_path: Path, *more):
    return run("generate", "--model", model_dir, *GEN, *more, "--out", tmp_path / "g.png")


def test_the_bundled_model_records_a_hash_of_every_file():
    md = load_model_dir(bundled_model_dir())
    assert md.config["format_version"] == FORMAT_VERSION == 2
    on_disk = {p.name for p in md.path.iterdir() if p.is_file() and p.name != "config.json"}
    assert set(md.config[FILES]) == on_disk >= {"ema.safetensors", "guide.safetensors",
                                                 "classes.json", "palette.json"}
    ae = load_model_dir(md.path / "ae")
    assert "ema.safetensors" in ae.config[FILES]
    assert md.config["ae"]["hash"] == hash_model_dir(ae.path)
    assert md.config["ae"]["encoder"] == load_autoencoder(ae.path, "cpu").encoder_hash()


def test_flipped_autoencoder_bytes_are_refused_by_the_installed_command(model, tmp_path):
    """The issue's check, as a user runs it: the last 8 bytes of ae/ema.safetensors flipped."""
    _flip_tail(model / "ae" / "ema.safetensors")
    res = subprocess.run([sys.executable, "-m", "ldm_sprites", "generate", "--model", str(model),
                          "--class", "fire", "--out", str(tmp_path / "g.png")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    lines = (res.stdout + res.stderr).strip().splitlines()
    assert len(lines) == 1 and "ae/ema.safetensors is damaged or was changed" in lines[0], lines
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("name", ["ema.safetensors", "guide.safetensors", "ae/ema.safetensors",
                                  "palette.json", "classes.json"])
def test_any_changed_file_is_refused(model, tmp_path, name):
    _flip_tail(model / name, 2)
    assert_one_line_error(_generate(model, tmp_path), f"{name} is damaged or was changed",
                          "copy the model again")


def test_a_file_swapped_for_another_valid_one_is_refused(model, tmp_path):
    # The guide replaced by the model's own weights: a valid safetensors file, the wrong one.
    shutil.copy(model / "ema.safetensors", model / "guide.safetensors")
    assert_one_line_error(_generate(model, tmp_path), "guide.safetensors is damaged or was changed")


def test_a_file_the_config_does_not_record_is_refused(model, tmp_path):
    cfg = json.loads((model / "config.json").read_text())
    del cfg[FILES]["guide.safetensors"]
    (model / "config.json").write_text(json.dumps(cfg))
    assert_one_line_error(_generate(model, tmp_path), "guide.safetensors is not one of the files")


def test_a_format_2_directory_without_its_hashes_is_refused(model, tmp_path):
    cfg = json.loads((model / "config.json").read_text())
    del cfg[FILES]
    (model / "config.json").write_text(json.dumps(cfg))
    assert_one_line_error(_generate(model, tmp_path), "records no file hashes")


def test_a_newer_format_is_refused_naming_both_versions(model, tmp_path):
    _edit_config(model, format_version=FORMAT_VERSION + 1)
    line = assert_one_line_error(_generate(model, tmp_path), f"model format {FORMAT_VERSION + 1}",
                                 f"formats up to {FORMAT_VERSION}", "upgrade ldm-sprites")
    assert str(model) in line
    for command in (["info"], ["classes"]):   # every command reads it through the same loader
        assert_one_line_error(run(*command, "--model", model), f"format {FORMAT_VERSION + 1}")
    _edit_config(model, format_version="2")
    assert_one_line_error(_generate(model, tmp_path), "no valid format_version")


def _changed_autoencoder(src: Path, dst: Path, part: str, claim: dict | None = None) -> Path:
    """A copy of the autoencoder ``src`` with one tensor of ``part`` ("encoder." or "decoder.")
    changed, written by the ordinary writer (so its own file hashes are right), its config
    carrying ``claim`` (keys anyone can copy from another config)."""
    ae = load_autoencoder(src, device="cpu")
    with torch.no_grad():
        name = next(k for k, v in ae.model.state_dict().items()
                    if k.startswith(part) and v.is_floating_point())
        ae.model.state_dict()[name].add_(0.25)
    ae.config = {**ae.config, **(claim or {})}
    return ae.save_pretrained(dst, fp16=True)


def test_a_rewritten_recorded_autoencoder_is_refused(model, tmp_path):
    """Even a replacement whose own file hashes are right: the model records its content hash."""
    new = _changed_autoencoder(model / "ae", tmp_path / "new-ae", "decoder.")
    shutil.rmtree(model / "ae")
    shutil.copytree(new, model / "ae")
    assert_one_line_error(_generate(model, tmp_path), "damaged or was replaced")


def test_another_decoder_is_accepted_by_its_encoder_not_by_a_config_claim(model, tmp_path):
    md = load_model_dir(model)
    space = md.config["ae"]["encoder"]
    claim = {"latent_space": space, "encoder": space}   # what a config can say, not what it is
    other = _changed_autoencoder(model / "ae", tmp_path / "other-encoder", "encoder.", claim)
    assert_one_line_error(_generate(model, tmp_path, "--ae", other),
                          "another encoder", f"encoder {space}")
    # A decoder that kept the encoder (what --freeze-encoder trains) decodes the model's latents.
    same = _changed_autoencoder(model / "ae", tmp_path / "same-encoder", "decoder.")
    res = _generate(model, tmp_path, "--ae", same)
    assert res.exit_code == 0, res.output
    pipe = DiffusionPipeline.from_pretrained(model, device="cpu", ae_path=same)
    assert pipe.autoencoder.encoder_hash() == space
    assert pipe.autoencoder.reference()["hash"] != md.config["ae"]["hash"]


def _as_format_1(path: Path) -> None:
    """Rewrite a bundled model's copy as format 1 wrote it: no file hashes, no encoder hash."""
    for d in (path / "ae", path):
        cfg = json.loads((d / "config.json").read_text())
        cfg.pop(FILES)
        cfg["format_version"] = 1
        if d == path:
            cfg["ae"] = {"path": "ae", "hash": hash_model_dir(path / "ae"),
                         "latent_space": "0000000000000000"}
        (d / "config.json").write_text(json.dumps(cfg))


def test_format_1_models_load_and_their_autoencoder_is_still_checked(model, tmp_path):
    _as_format_1(model)
    assert _generate(model, tmp_path).exit_code == 0
    # --ae: the encoder hash comes from the recorded autoencoder's own weights.
    same = _changed_autoencoder(model / "ae", tmp_path / "same-encoder", "decoder.")
    assert _generate(model, tmp_path, "--ae", same).exit_code == 0
    other = _changed_autoencoder(model / "ae", tmp_path / "other", "encoder.",
                                 {"latent_space": "0000000000000000"})
    assert_one_line_error(_generate(model, tmp_path, "--ae", other), "another encoder")
    # The hole of format 1: a decoder naming the same latent_space was accepted. No longer.
    _flip_tail(model / "ae" / "ema.safetensors")
    assert_one_line_error(_generate(model, tmp_path), "damaged or was replaced")
