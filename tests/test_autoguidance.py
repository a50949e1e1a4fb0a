"""Autoguidance: the guided denoiser's arithmetic, where the weight comes from, the guide a
training run keeps (diffusion.guide_step) through resume, bundling with --guide, and the CLI."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from conftest import TINY_TRAIN, train_then_resume
from tests.hardening import assert_one_line_error
from ldm_sprites.cli import cli
from ldm_sprites.diffusion.config import read_saved
from ldm_sprites.diffusion.guidance import GuidedDenoiser
from ldm_sprites.diffusion.guide import GUIDE_FILE
from ldm_sprites.diffusion.options import resolve_sampling
from ldm_sprites.diffusion.pipeline import DiffusionPipeline
from ldm_sprites.diffusion.schedule import NoiseSchedule
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import load_model_dir


class Const(torch.nn.Module):
    """A stand-in network: ``cond`` for real labels, ``uncond`` for the null label (2)."""

    def __init__(self, cond: float, uncond: float):
        super().__init__()
        self.cond, self.uncond, self.calls = cond, uncond, 0

    def forward(self, x, t, y):
        self.calls += 1
        v = torch.where(y == 2, torch.tensor(self.uncond), torch.tensor(self.cond))
        return v.view(-1, 1, 1, 1).expand_as(x).clone()


def resolve(saved: dict, timesteps: int, **user):
    """``resolve_sampling`` over a saved ``sample`` section, read as from_pretrained reads it."""
    return resolve_sampling(read_saved({"sample": saved}).sample, timesteps, **user)


def _out(model, guide, w, g):
    den = GuidedDenoiser(model, NoiseSchedule("cosine", 100), torch.tensor([0, 1]), 2, g, "eps",
                         guide=guide, autoguidance=w)
    return den.model_output(torch.zeros(2, 1, 2, 2), torch.tensor([5, 5]))


def test_autoguidance_extrapolates_from_the_guide_to_the_model():
    good, bad = Const(1.0, 0.5), Const(0.4, 0.2)
    # conditional only: 0.4 + 3 (1.0 - 0.4)
    assert torch.allclose(_out(good, bad, 3.0, 1.0), torch.full((2, 1, 2, 2), 2.2))
    assert bad.calls == 1
    # added to classifier-free guidance at 2: 0.5 + 2 (1.0 - 0.5) + (2 - 1) (1.0 - 0.4); the
    # guide runs once, conditional only (its unconditional output never matters)
    assert torch.allclose(_out(good, bad, 2.0, 2.0), torch.full((2, 1, 2, 2), 1.5 + 0.6))
    assert bad.calls == 2
    # guidance 0 is the unconditional model: nothing conditional to guide
    assert torch.allclose(_out(good, bad, 3.0, 0.0), torch.full((2, 1, 2, 2), 0.5))
    assert bad.calls == 2


def test_weight_one_or_no_guide_never_runs_the_guide():
    good, bad = Const(1.0, 0.5), Const(0.4, 0.2)
    assert torch.allclose(_out(good, bad, 1.0, 1.0), torch.ones(2, 1, 2, 2))
    assert torch.allclose(_out(good, None, 3.0, 1.0), torch.ones(2, 1, 2, 2))
    assert bad.calls == 0


def test_saved_weight_applies_only_with_a_guide_and_user_weight_needs_one():
    saved = {"autoguidance": 2.5}
    assert resolve(saved, 1000, has_guide=True).autoguidance == 2.5
    assert resolve(saved, 1000, has_guide=False).autoguidance == 1.0
    assert resolve(saved, 1000, has_guide=True, autoguidance=4).autoguidance == 4.0
    assert resolve(saved, 1000, autoguidance=1).autoguidance == 1.0
    with pytest.raises(UserError, match="needs a model with a guide"):
        resolve(saved, 1000, autoguidance=3)
    with pytest.raises(UserError, match="must be >= 1"):
        resolve(saved, 1000, has_guide=True, autoguidance=0.5)


def test_class_transfer_leaves_the_guide_out_unless_asked():
    saved = {"guidance": 3.0, "transfer_guidance": 6.0}
    g = resolve(saved, 1000, has_guide=True)
    assert (g.autoguidance, g.guidance) == (3.0, 3.0)
    # class transfer: its own strong guidance, no autoguidance unless asked
    t = resolve(saved, 1000, has_guide=True, transfer=True)
    assert (t.autoguidance, t.guidance) == (1.0, 6.0)
    assert resolve(saved, 1000, has_guide=True, transfer=True,
                            autoguidance=2).autoguidance == 2.0


@pytest.fixture(scope="module")
def guided_run(demo_dir, tmp_path_factory):
    """A nano pixel model that keeps its step-2 EMA as the guide, trained to 2 then resumed to 4."""
    return train_then_resume("diffusion:\n  guide_step: 2\n", demo_dir,
                             tmp_path_factory.mktemp("guided"))


def test_training_keeps_the_guide_step_ema_through_resume(guided_run):
    early = load_model_dir(guided_run / "checkpoints" / "step-00000002")
    late = load_model_dir(guided_run)
    assert late.config["step"] == 4 and late.config["guide"]["step"] == 2
    assert early.config["guide"]["model"] == late.config["model"]
    guide, ema2, ema4 = late.weights("guide"), early.weights("ema"), late.weights("ema")
    assert all(torch.equal(guide[k], ema2[k]) for k in ema2)
    assert any(not torch.equal(ema4[k], ema2[k]) for k in ema2)   # the model trained on
    # the resume state names the guide; its weights are stored once, in guide.safetensors
    assert late.train_state()["task"] == {"guide_step": 2}


def test_resume_without_the_guide_file_is_a_one_line_error(guided_run, demo_dir, tmp_path):
    """The resume state only says that there is a guide; its weights are guide.safetensors."""
    import shutil

    run = shutil.copytree(guided_run, tmp_path / "run")
    (run / "checkpoints" / "step-00000004" / GUIDE_FILE).unlink()
    cfg = tmp_path / "guide.yaml"
    cfg.write_text("diffusion:\n  guide_step: 2\n")
    res = CliRunner().invoke(cli, ["train-diffusion", "--config", str(cfg), "--data", str(demo_dir),
                                   "--out", str(run), "--checkpoint-every", "2", *TINY_TRAIN,
                                   "--steps", "6", "--resume"])
    assert_one_line_error(res, f"step-00000004 has no {GUIDE_FILE}")


def test_guided_generation_differs_and_is_deterministic(guided_run, tmp_path):
    pipe = DiffusionPipeline.from_pretrained(guided_run)
    assert pipe.guide is not None and pipe.sampling_options().autoguidance == 3.0
    a = pipe.sample([0, 1], seed=3, steps=3)
    assert torch.equal(a, pipe.sample([0, 1], seed=3, steps=3))
    off = pipe.sample([0, 1], seed=3, steps=3, autoguidance=1)
    assert not torch.equal(a, off)
    # save_pretrained keeps the guide
    again = DiffusionPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "copy"))
    assert torch.equal(again.sample([0, 1], seed=3, steps=3), a)


def test_cli_autoguidance_flag(guided_run, tiny_model, tmp_path):
    run = CliRunner().invoke
    res = run(cli, ["generate", "--model", str(guided_run), "--num", "2", "--steps", "2",
                    "--autoguidance", "2", "--out-dir", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    assert '"autoguidance": 2.0' in (tmp_path / "g" / "sprites.json").read_text()
    res = run(cli, ["generate", "--model", str(tiny_model), "--num", "2", "--steps", "2",
                    "--autoguidance", "2", "--out", str(tmp_path / "x.png")])
    assert res.exit_code != 0 and "needs a model with a guide" in res.output
    assert "Traceback" not in res.output


def test_bundle_guide_from_an_earlier_checkpoint(guided_run, demo_dir, tmp_path):
    ckpts = guided_run / "checkpoints"
    out = tmp_path / "b"
    res = CliRunner().invoke(cli, ["bundle", str(ckpts / "step-00000004"), str(out), "--fp32",
                                   "--guide", str(ckpts / "step-00000002"),
                                   "--autoguidance", "2.5"])
    assert res.exit_code == 0, res.output
    md = load_model_dir(out)
    assert (out / GUIDE_FILE).is_file() and md.config["sample"]["autoguidance"] == 2.5
    assert md.config["guide"]["step"] == 2
    pipe = DiffusionPipeline.from_pretrained(out)
    assert pipe.guide is not None and pipe.sampling_options().autoguidance == 2.5
    # a model of another task (other classes) cannot be the guide
    other = tmp_path / "other"
    res = CliRunner().invoke(cli, ["train-diffusion", "--data", str(demo_dir), "--out", str(other),
                                   "--steps", "1", *TINY_TRAIN[:-2]])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["bundle", str(ckpts / "step-00000004"), str(tmp_path / "c"),
                                   "--guide", str(other)])
    assert res.exit_code != 0 and "cannot guide" in res.output and "classes" in res.output
    assert not (tmp_path / "c").exists()


def test_onnx_export_carries_the_guide_and_samples_like_torch(guided_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    from ldm_sprites.diffusion.onnx_export import export_onnx, use_onnx_runtime

    ref = DiffusionPipeline.from_pretrained(guided_run, device="cpu")
    meta = export_onnx(ref, tmp_path / "onnx")
    assert "guide.onnx" in meta["files"] and meta["autoguidance"] == 3.0
    assert json.loads((tmp_path / "onnx" / "model.json").read_text())["autoguidance"] == 3.0
    ort = use_onnx_runtime(DiffusionPipeline.from_pretrained(guided_run, device="cpu"),
                           tmp_path / "onnx")
    kw = dict(seed=1, steps=3)
    assert (ort.sample([0, 1], **kw) - ref.sample([0, 1], **kw)).abs().max().item() < 1e-3


def test_info_says_whether_a_model_carries_a_guide(guided_run, tiny_model):
    res = CliRunner().invoke(cli, ["info", "--model", str(guided_run)])
    assert res.exit_code == 0 and "guide:    the EMA at step 2 (autoguidance)" in res.output
    res = CliRunner().invoke(cli, ["info", "--model", str(tiny_model)])
    assert res.exit_code == 0 and "guide:    none (autoguidance off)" in res.output
