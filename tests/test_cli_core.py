"""End-to-end: demo data -> train-diffusion -> generate, through click's CliRunner."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.modeldir import list_checkpoints, load_model_dir
from tests.conftest import TINY_TRAIN


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_help_lists_every_command():
    res = run("--help")
    assert res.exit_code == 0
    for name in ("demo-data", "train-diffusion", "generate", "classes"):
        assert name in res.output


def test_trained_run_is_a_model_directory(tiny_model):
    ckpts = list_checkpoints(tiny_model)
    assert [p.name for p in ckpts] == ["step-00000003", "step-00000006"]
    md = load_model_dir(tiny_model)
    assert md.path == ckpts[-1]
    assert md.classes == ["electric", "fire", "ghost", "grass", "ice", "water"]
    assert md.config["kind"] == "diffusion" and md.config["step"] == 6
    for f in ("config.json", "classes.json", "model.safetensors", "ema.safetensors",
              "train_state.pt"):
        assert (md.path / f).is_file()
    lines = [json.loads(l) for l in (tiny_model / "log.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 6 and np.isfinite(lines[-1]["loss"])
    assert run("classes", "--model", tiny_model).output.split() == md.classes


def test_generate_grid_and_individual_sprites(tiny_model, tmp_path):
    res = run("generate", "--model", tiny_model, "--class", "fire,water", "--num", 4, "--steps", 3,
              "--out", tmp_path / "g.png", "--out-dir", tmp_path / "each", "--seed", 1)
    assert res.exit_code == 0, res.output
    grid = Image.open(tmp_path / "g.png")
    assert grid.mode == "RGBA"
    files = sorted(p.name for p in (tmp_path / "each").glob("*.png"))
    assert files == ["fire-000.png", "fire-002.png", "water-001.png", "water-003.png"]
    one = Image.open(tmp_path / "each" / "fire-000.png")
    assert one.size == (16, 16) and one.mode == "RGBA"
    meta = json.loads((tmp_path / "each" / "sprites.json").read_text())
    assert [s["class"] for s in meta["sprites"]] == ["fire", "water", "fire", "water"]


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmpp", "dpmpp3m", "unipc"])
def test_same_seed_gives_identical_png_bytes(tiny_model, tmp_path, sampler):
    outs = []
    for name in ("a", "b", "c"):
        seed = 7 if name != "c" else 8
        res = run("generate", "--model", tiny_model, "--class", "ice", "--num", 3, "--steps", 4,
                  "--sampler", sampler, "--eta", 1.0, "--seed", seed, "--out", tmp_path / f"{name}.png")
        assert res.exit_code == 0, res.output
        outs.append((tmp_path / f"{name}.png").read_bytes())
    assert outs[0] == outs[1]
    if sampler not in ("dpmpp", "unipc"):  # deterministic given x_T, but x_T depends on the seed
        assert outs[0] != outs[2]


@pytest.mark.parametrize("sampler", ["dpmpp3m", "unipc"])
def test_new_samplers_and_spacing_round_trip_through_generate(tiny_model, tmp_path, sampler):
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    res = run("generate", "--model", tiny_model, "--class", "fire", "--num", 2, "--steps", 5,
              "--sampler", sampler, "--spacing", "logsnr", "--finish", "none", "--seed", 3,
              "--out-dir", tmp_path / "each")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "each" / "sprites.json").read_text())
    assert (meta["sampler"], meta["steps"], meta["spacing"]) == (sampler, 5, "logsnr")
    pipe = DiffusionPipeline.from_pretrained(tiny_model)
    from ldm_sprites.finish import FinishOptions

    want = pipe.sprites(pipe.class_ids(["fire"]) * 2, seed=3, sampler=sampler, steps=5,
                        spacing="logsnr", finish=FinishOptions(mode="none"))
    got = np.stack([np.asarray(Image.open(tmp_path / "each" / f)) for f in
                    ("fire-000.png", "fire-001.png")])
    assert np.array_equal(got, want)
    res = run("generate", "--model", tiny_model, "--spacing", "cosine", "--out", tmp_path / "x.png")
    assert res.exit_code == 2 and "cosine" in res.output


def test_unknown_class_lists_valid_names_and_closest(tiny_model, tmp_path):
    res = run("generate", "--model", tiny_model, "--class", "fier", "--out", tmp_path / "x.png")
    assert res.exit_code == 1
    assert "unknown class 'fier'" in res.output and "Did you mean 'fire'?" in res.output
    assert "electric, fire, ghost" in res.output
    assert "Traceback" not in res.output


def test_missing_and_partial_model_dirs(tiny_model, tmp_path):
    res = run("generate", "--model", tmp_path / "none", "--out", tmp_path / "x.png")
    assert res.exit_code == 1 and "does not exist" in res.output
    broken = tmp_path / "broken"
    broken.mkdir()
    src = load_model_dir(tiny_model).path
    (broken / "config.json").write_bytes((src / "config.json").read_bytes())
    (broken / "classes.json").write_bytes((src / "classes.json").read_bytes())
    res = run("generate", "--model", broken, "--out", tmp_path / "x.png")
    assert res.exit_code == 1 and "incomplete" in res.output
    data = (src / "model.safetensors").read_bytes()
    (broken / "ema.safetensors").write_bytes(data[: len(data) // 2])
    res = run("generate", "--model", broken, "--out", tmp_path / "x.png")
    assert res.exit_code == 1 and "damaged" in res.output
    assert "Traceback" not in res.output


def test_generate_needs_an_output(tiny_model):
    res = run("generate", "--model", tiny_model)
    assert res.exit_code == 2 and "--out" in res.output


def _config(tmp_path, **train):
    t = {"steps": 6, "batch_size": 8, "log_every": 1, "checkpoint_every": 3, "sample_every": 0,
         "lr": 0.001, **train}
    lines = ["model: {preset: nano, patch_size: 4}", "data: {size: 16, label_column: type}",
             "train: {" + ", ".join(f"{k}: {v}" for k, v in t.items()) + "}"]
    p = tmp_path / "cfg.yaml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_resume_after_interruption_equals_uninterrupted_run(demo_dir, tmp_path):
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.task import DiffusionTask
    from ldm_sprites.training.trainer import seed_everything, train

    cfg = load_config(_config(tmp_path), DiffusionConfig)
    data = load_sprite_data(demo_dir, DataSpec(16, label_column="type"))

    def fresh_task():
        seed_everything(cfg.train.seed)
        return DiffusionTask(cfg, data.images, data.labels, data.classes)

    train(fresh_task(), cfg.train, tmp_path / "full")
    train(fresh_task(), cfg.train, tmp_path / "split", stop_after=3)
    assert [p.name for p in list_checkpoints(tmp_path / "split")] == ["step-00000003"]
    train(fresh_task(), cfg.train, tmp_path / "split", resume=True)

    def losses(run_dir):
        return [json.loads(l)["loss"] for l in (run_dir / "log.jsonl").read_text().splitlines()]

    assert losses(tmp_path / "full") == losses(tmp_path / "split")
    a, b = load_model_dir(tmp_path / "full"), load_model_dir(tmp_path / "split")
    for name in ("model", "ema"):
        wa, wb = a.weights(name), b.weights(name)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_second_run_into_same_dir_needs_resume(tiny_model, demo_dir):
    res = run("train-diffusion", "--data", demo_dir, "--out", tiny_model, "--steps", 2, *TINY_TRAIN)
    assert res.exit_code == 1 and "--resume" in res.output


def test_resume_cli_extends_training(demo_dir, tmp_path):
    out = tmp_path / "r"
    assert run("train-diffusion", "--data", demo_dir, "--out", out, "--steps", 2,
               "--checkpoint-every", 2, *TINY_TRAIN).exit_code == 0
    res = run("train-diffusion", "--data", demo_dir, "--out", out, "--steps", 4, "--resume",
              "--checkpoint-every", 2, *TINY_TRAIN)
    assert res.exit_code == 0, res.output
    assert load_model_dir(out).config["step"] == 4


def test_nan_loss_stops_and_names_last_good_checkpoint(demo_dir, tmp_path):
    # A NaN on the 5th step: the step-3 checkpoint must survive and be named; nothing after it.
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.errors import UserError
    from ldm_sprites.diffusion.task import DiffusionTask
    from ldm_sprites.training.trainer import train

    cfg = load_config(_config(tmp_path), DiffusionConfig)
    data = load_sprite_data(demo_dir, DataSpec(16, label_column="type"))
    task = DiffusionTask(cfg, data.images, data.labels, data.classes)
    real_loss = task.loss

    def poisoned(model, generator, _n=[0]):
        _n[0] += 1
        loss, logs = real_loss(model, generator)
        return (loss * float("nan") if _n[0] == 5 else loss), logs

    task.loss = poisoned
    with pytest.raises(UserError, match=r"loss became nan.*step-00000003"):
        train(task, cfg.train, tmp_path / "poison")
    assert [p.name for p in list_checkpoints(tmp_path / "poison")] == ["step-00000003"]


def test_bad_train_inputs(tmp_path, demo_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run("train-diffusion", "--data", empty, "--out", tmp_path / "o", *TINY_TRAIN[:-2])
    assert res.exit_code == 1 and "no images found" in res.output
    res = run("train-diffusion", "--data", demo_dir, "--out", tmp_path / "o", "--label-column",
              "typ", "--steps", 1)
    assert res.exit_code == 1 and "did you mean 'type'" in res.output
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("train: {stpes: 3}\n")
    res = run("train-diffusion", "--config", bad_cfg, "--data", demo_dir, "--out", tmp_path / "o")
    assert res.exit_code == 1 and "did you mean 'steps'" in res.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run("train-diffusion", "--data", demo_dir, "--out", blocker / "run", *TINY_TRAIN)
    assert res.exit_code == 1 and "cannot create directory" in res.output


def test_guidance_interval_option(tiny_model, tmp_path):
    ok = run("generate", "--model", tiny_model, "--num", 2, "--steps", 3,
             "--guidance-interval", "0.3,5", "--out", tmp_path / "a.png")
    assert ok.exit_code == 0, ok.output
    bad = run("generate", "--model", tiny_model, "--num", 2, "--guidance-interval", "5,1",
              "--out", tmp_path / "b.png")
    assert bad.exit_code == 1 and "LO < HI" in bad.output
