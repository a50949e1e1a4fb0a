"""Min-SNR-γ weighting: training's loss is weighted by it, and it round-trips through training,
resume and sampling (tiny pixel model)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from conftest import TINY_TRAIN, train_then_resume
from ldm_sprites.cli import cli
from ldm_sprites.modeldir import load_model_dir


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_the_training_loss_is_weighted_by_min_snr(demo_dir, prediction):
    """One sprite a batch: the loss with γ over the plain loss of the same draw (sprite, t, noise,
    label drop) is the schedule's Min-SNR weight at that draw's t."""
    from ldm_sprites.config_loader import from_dict
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.diffusion.task import DiffusionTask

    data = load_sprite_data(demo_dir, DataSpec(16, label_column="type"))

    def task(gamma):
        cfg = from_dict(DiffusionConfig, {
            "model": {"preset": "nano", "patch_size": 4}, "train": {"batch_size": 1},
            "data": {"size": 16, "label_column": "type"},
            "diffusion": {"min_snr_gamma": gamma, "prediction": prediction}})
        return DiffusionTask(cfg, data.images, data.labels, data.classes)

    weighted, plain = task(5.0), task(0.0)
    model = weighted.model.train()
    drawn, draw = [], weighted.schedule.sample_timesteps
    weighted.schedule.sample_timesteps = lambda *a, **kw: drawn.append(draw(*a, **kw)) or drawn[-1]
    ratios = []
    for seed in range(16):
        loss, _ = weighted.loss(model, torch.Generator().manual_seed(seed))
        base, _ = plain.loss(model, torch.Generator().manual_seed(seed))
        ratios.append(loss / base)
    want = weighted.schedule.loss_weight(torch.cat(drawn), prediction, 5.0)
    assert want.min() < 0.5       # some draws are easy (high SNR): their weight is well below 1
    torch.testing.assert_close(torch.stack(ratios).float(), want, rtol=1e-4, atol=0)


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
