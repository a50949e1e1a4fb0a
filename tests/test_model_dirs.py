"""Both stages through one door: the ``Task`` protocol of the training loop, ``api.train_ae`` and
its resume, and models that save and load themselves (``save_pretrained``/``from_pretrained``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ldm_sprites.autoencoder.handle import AutoencoderHandle
from ldm_sprites.cli import cli
from ldm_sprites.diffusion.pipeline import DiffusionPipeline
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import list_checkpoints, load_model_dir
from ldm_sprites.runtime import bundled_model_dir
from ldm_sprites.training.task import Task
from tests.hardening import fake_autoencoder
from tests.test_autoencoder import nano_ae_config


def _log(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "img_per_s"} for r in rows]


def _same_weights(a: Path, b: Path) -> bool:
    ma, mb = load_model_dir(a), load_model_dir(b)
    for name in ("model", "ema"):
        wa, wb = ma.weights(name), mb.weights(name)
        if wa.keys() != wb.keys() or not all(torch.equal(wa[k], wb[k]) for k in wa):
            return False
    return True


# --- the Task protocol ---------------------------------------------------------------------------

class _LineTask(Task):
    """The smallest task: fit y = x0 + x1; every optional hook keeps the protocol's default."""

    name = "line"
    classes: list[str] = []
    batch_size = 4

    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 1)

    def loss(self, model, generator):
        x = torch.randn(self.batch_size, 2, generator=generator)
        return (model(x) - x.sum(1, keepdim=True)).pow(2).mean(), {}

    def config_dict(self) -> dict:
        return {"kind": "line"}

    def preview(self, ema_model, step, path) -> None:
        raise AssertionError("sample_every is 0")


def test_a_task_with_only_the_required_members_trains_with_the_defaults(tmp_path):
    from ldm_sprites.train_section import TrainSection
    from ldm_sprites.training.trainer import train

    cfg = TrainSection(steps=4, batch_size=4, lr=0.01, warmup_steps=2, checkpoint_every=2,
                       sample_every=0, log_every=1)
    result = train(_LineTask(), cfg, tmp_path / "run")
    assert result["step"] == 4
    md = load_model_dir(tmp_path / "run")
    assert md.config["kind"] == "line" and "task" not in md.train_state()   # extra_state: None
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == [1, 2, 3, 4] and log[0]["epoch"] is None
    assert log[0]["lr"] == 0.01   # warmup_constant: the LR after step 1 of a 2-step warm-up


def test_both_stages_tasks_satisfy_the_protocol(demo_dir):
    from ldm_sprites.autoencoder.config import AEConfig
    from ldm_sprites.autoencoder.task import AutoencoderTask
    from ldm_sprites.config_loader import from_dict
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.task import DiffusionTask

    data = load_sprite_data(demo_dir, DataSpec(16, label_column="type"))
    ae_cfg = from_dict(AEConfig, {"model": {"stem": 4, "channels": 16, "res_blocks": 1},
                                  "data": {"size": 16}})
    dit_cfg = from_dict(DiffusionConfig, {"model": {"preset": "nano", "patch_size": 4},
                                          "data": {"size": 16}})
    assert isinstance(AutoencoderTask(ae_cfg, data.images), Task)
    assert isinstance(DiffusionTask(dit_cfg, data.images, data.labels, data.classes), Task)


# --- the autoencoder's run: api.train_ae, the CLI, resume ----------------------------------------

def test_api_train_ae_trains_a_loadable_autoencoder(demo_dir, tmp_path):
    from ldm_sprites import api

    with pytest.raises(UserError, match="unknown option.*codebook"):
        api.train_ae(demo_dir, tmp_path / "x", codebook=12)
    with pytest.raises(UserError, match="--steps and --time-budget"):
        api.train_ae(demo_dir, tmp_path / "x", steps=5, time_budget="1m")
    ckpt = api.train_ae(demo_dir, tmp_path / "ae", config=nano_ae_config(tmp_path), steps=4,
                        sample_every=0, latent_channels=2)
    md = load_model_dir(ckpt, expect_kind="autoencoder")
    assert ckpt == list_checkpoints(tmp_path / "ae")[-1] and md.config["step"] == 4
    assert md.config["model"]["latent_channels"] == 2 and md.config["scale_factor"] > 0
    ae = AutoencoderHandle.from_pretrained(tmp_path / "ae", device="cpu")
    assert ae.latent_channels == 2 and ae.encode(torch.zeros(1, 4, 16, 16)).shape == (1, 2, 4, 4)


def test_an_autoencoder_run_stopped_early_resumes_from_its_checkpoint(demo_dir, tmp_path):
    """A run stopped at step 2 continues there (through the CLI, on the run's saved config) and
    ends exactly where an uninterrupted run does."""
    from ldm_sprites import api
    from ldm_sprites.training.ae_run import resolve_ae_config, run_ae_training

    config = nano_ae_config(tmp_path, checkpoint_every=2, log_every=1, steps=4)
    api.train_ae(demo_dir, tmp_path / "straight", config=config)
    split = tmp_path / "split"
    cfg = resolve_ae_config(config, split, False, {})
    assert run_ae_training(cfg, demo_dir, split, stop_after=2)["step"] == 2
    assert [p.name for p in list_checkpoints(split)] == ["step-00000002"]
    res = CliRunner().invoke(cli, ["train-ae", "--data", str(demo_dir), "--out", str(split),
                                   "--resume", "--lr", "0.5"])   # --lr: the saved config wins
    assert res.exit_code == 0, res.output
    assert "resuming" in res.output and "from step 2" in res.output
    assert "trained 4 steps" in res.output
    assert _log(split) == _log(tmp_path / "straight")
    assert _same_weights(split, tmp_path / "straight")


# --- save_pretrained / from_pretrained -----------------------------------------------------------

def test_autoencoder_round_trip_gives_identical_outputs(tmp_path):
    ae = AutoencoderHandle.from_pretrained(fake_autoencoder(tmp_path / "ae", seed=3), device="cpu")
    saved = ae.save_pretrained(tmp_path / "copy")
    again = AutoencoderHandle.from_pretrained(saved, device="cpu")
    x = torch.rand(5, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    z = ae.encode(x)
    assert torch.equal(again.encode(x), z) and torch.equal(again.decode(z), ae.decode(z))
    assert again.scale_factor == ae.scale_factor and again.data_spec == ae.data_spec


def test_an_autoencoder_built_in_memory_saves_and_loads(tmp_path):
    from ldm_sprites.autoencoder.handle import build_from_config

    config = load_model_dir(fake_autoencoder(tmp_path / "ae")).config
    ae = AutoencoderHandle(build_from_config(config), config, "cpu")
    with pytest.raises(UserError, match="save_pretrained"):
        ae.reference()
    again = AutoencoderHandle.from_pretrained(ae.save_pretrained(tmp_path / "new"), device="cpu")
    z = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again.decode(z), ae.decode(z))
    assert again.reference()["path"] == str((tmp_path / "new").resolve())


def _round_trip(model_dir, tmp_path: Path) -> tuple[DiffusionPipeline, DiffusionPipeline]:
    pipe = DiffusionPipeline.from_pretrained(model_dir, device="cpu")
    saved = pipe.save_pretrained(tmp_path / "copy")
    assert saved == tmp_path / "copy" and not list(tmp_path.glob("*staging*"))
    return pipe, DiffusionPipeline.from_pretrained(saved, device="cpu")


def _assert_same_sprites(a: DiffusionPipeline, b: DiffusionPipeline) -> None:
    assert b.classes == a.classes and b.config.sample == a.config.sample and b.x0_clip == a.x0_clip
    labels, _ = a.spread_labels(None, 4)
    assert torch.equal(b.sample(labels, seed=1, steps=4), a.sample(labels, seed=1, steps=4))
    assert (b.sprites(labels, seed=2, steps=3) == a.sprites(labels, seed=2, steps=3)).all()


def test_pixel_pipeline_round_trip_gives_identical_sprites(tiny_model, tmp_path):
    a, b = _round_trip(tiny_model, tmp_path)
    assert b.autoencoder is None and (tmp_path / "copy" / "palette.json").is_file()
    _assert_same_sprites(a, b)


def test_the_bundled_latent_model_loads_and_round_trips_with_its_autoencoder(tmp_path):
    """The bundled directory (fp16 EMA weights only, its AE inside by relative path) is an older
    model directory: it loads, and the copy it saves is self-contained and samples the same."""
    a, b = _round_trip(bundled_model_dir(), tmp_path)
    assert a.latent and b.latent
    assert load_model_dir(tmp_path / "copy").config["ae"]["path"] == "ae"
    assert b.autoencoder.path == (tmp_path / "copy" / "ae").resolve()
    _assert_same_sprites(a, b)
