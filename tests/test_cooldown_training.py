"""The LR cooldown (train.cooldown) round-trips through training, resume and sampling, and the
resumed run cools down over the end of its new length."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import train_then_resume
from ldm_sprites.cli import cli
from ldm_sprites.modeldir import load_model_dir


def test_cooldown_trains_resumes_and_samples(demo_dir, tmp_path):
    run = train_then_resume("train:\n  cooldown: 0.5\n  warmup_steps: 1\n  lr: 0.001\n  log_every: 1\n",
                            demo_dir, tmp_path)
    md = load_model_dir(run)
    assert md.config["step"] == 4 and md.config["train"]["cooldown"] == 0.5
    lr = {r["step"]: r["lr"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
          if "lr" in r}
    # 4 steps, the last half cooling: the multiplier after step k is (4 - k) / 2
    assert lr[3] == pytest.approx(0.0005) and lr[4] == 0.0
    res = CliRunner().invoke(cli, ["generate", "--model", str(run), "--num", "2", "--steps", "2",
                                   "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 0, res.output
