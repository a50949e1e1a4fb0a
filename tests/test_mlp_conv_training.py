"""``model.mlp_conv`` (a depthwise conv over the token grid in each block's MLP) round-trips
through training, resume, sampling and ONNX export on a tiny pixel model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import train_then_resume
from ldm_sprites.cli import cli
from ldm_sprites.api import load_pipeline
from ldm_sprites.diffusion.dit import ConvMLP
from ldm_sprites.modeldir import load_model_dir


def test_mlp_conv_trains_resumes_samples_and_exports(demo_dir, tmp_path):
    run = train_then_resume("model:\n  mlp_conv: true\ndiffusion:\n  prediction: v\n",
                            demo_dir, tmp_path)
    md = load_model_dir(run)
    assert md.config["step"] == 4 and md.config["model"]["mlp_conv"] is True
    blocks = load_pipeline(run).model.blocks
    assert all(isinstance(b.mlp, ConvMLP) for b in blocks)
    # trained: the zero-initialised convolutions have moved
    assert any(b.mlp.dwconv.weight.abs().sum() > 0 for b in blocks)
    res = CliRunner().invoke(cli, ["generate", "--model", str(run), "--num", "2", "--steps", "2",
                                   "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 0, res.output
    pytest.importorskip("onnx")
    res = CliRunner().invoke(cli, ["export-onnx", str(run), "--out", str(tmp_path / "onnx")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "onnx" / "denoiser.onnx").stat().st_size > 0
