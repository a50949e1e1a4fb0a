"""Min-SNR-γ weighting round-trips through training, resume and sampling (tiny pixel model)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import TINY_TRAIN, train_then_resume
from ldm_sprites.cli import cli
from ldm_sprites.modeldir import load_model_dir


def test_min_snr_trains_resumes_and_samples(demo_dir, tmp_path):
    run = train_then_resume("diffusion:\n  min_snr_gamma: 5.0\n  prediction: v\n",
                            demo_dir, tmp_path)
    md = load_model_dir(run)
    assert md.config["step"] == 4
    assert md.config["diffusion"]["min_snr_gamma"] == 5.0
    losses = [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()
              if '"loss"' in line]
    assert losses and all(v == v and v > 0 for v in losses)  # finite, positive
    res = CliRunner().invoke(cli, ["generate", "--model", str(run), "--num", "2", "--steps", "2",
                                   "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 0, res.output


def test_negative_min_snr_gamma_is_a_one_line_error(demo_dir, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("diffusion:\n  min_snr_gamma: -1\n")
    res = CliRunner().invoke(cli, ["train-diffusion", "--config", str(cfg), "--data", str(demo_dir),
                                   "--out", str(tmp_path / "r"), "--steps", "1", *TINY_TRAIN])
    assert res.exit_code != 0 and "min_snr_gamma" in res.output
    assert "Traceback" not in res.output
