"""Interrupted and failing training runs never cost the user a trained model.

SIGKILL at any moment leaves only loadable checkpoints and ``--resume`` continues the exact loss
curve; SIGINT (or SIGTERM) finishes the step, checkpoints and exits 130 (143); a full disk, a NaN/inf loss or gradient
stop the run naming the last good checkpoint; a run directory is locked against a second trainer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import list_checkpoints, load_model_dir
from tests.hardening import assert_one_line_error, enospc, run, write_config

ROOT = Path(__file__).resolve().parents[1]


def _spawn(*args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "ldm_sprites", *map(str, args)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, proc, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"trainer exited early:\n{proc.communicate()[0]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("timed out waiting for the trainer")


def _losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (run_dir / "log.jsonl").read_text()
                                                 .splitlines())]


def test_sigkill_leaves_a_loadable_run_and_resume_reproduces_the_curve(demo_dir, tmp_path):
    cfg = write_config(tmp_path, steps=10, checkpoint_every=2)
    train = ["train-diffusion", "--config", cfg, "--data", demo_dir]
    killed = tmp_path / "killed"
    proc = _spawn(*train, "--out", killed)
    _wait_for(lambda: list_checkpoints(killed), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    # whatever it was doing, the newest complete checkpoint loads, weights and train state included
    md = load_model_dir(killed)
    at = md.config["step"]
    assert at >= 2 and md.train_state()["step"] == at
    assert all(torch.isfinite(t).all() for t in md.weights("model").values())
    res = run(*train, "--out", killed, "--resume")
    assert res.exit_code == 0, res.output
    res = run(*train, "--out", tmp_path / "straight")
    assert res.exit_code == 0, res.output
    assert _losses(killed) == _losses(tmp_path / "straight")  # same seed: the same curve
    assert [s for s, _ in _losses(killed)] == list(range(1, 11))
    assert not list(killed.glob("checkpoints/*.tmp"))


@pytest.mark.parametrize("sig, code, warning", [
    (signal.SIGINT, 130, "interrupt received"),
    # kill / timeout / schedulers send SIGTERM: the run keeps every step it made too
    (signal.SIGTERM, 128 + signal.SIGTERM, "SIGTERM received"),
], ids=["sigint", "sigterm"])
def test_a_signal_finishes_the_step_and_checkpoints(demo_dir, tmp_path, sig, code, warning):
    cfg = write_config(tmp_path, steps=100000, checkpoint_every=100000)
    out = tmp_path / "run"
    proc = _spawn("train-diffusion", "--config", cfg, "--data", demo_dir, "--out", out)
    log = out / "log.jsonl"
    _wait_for(lambda: log.is_file() and log.stat().st_size > 0, proc)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert warning in output and "Traceback" not in output
    assert "--resume" in output.splitlines()[-1]
    md = load_model_dir(out)
    assert f"interrupted at step {md.config['step']}" in output
    # the step it stopped at was checkpointed
    assert md.config["step"] == _losses(out)[-1][0] > 0


def test_ctrl_c_after_a_steps_checkpoint_decision_still_checkpoints(demo_dir, tmp_path):
    """A Ctrl-C handled late in a step (here: while it writes its preview grid, after it has
    decided not to checkpoint) must not end the run without the checkpoint the warning promised
    (the race CI once caught as an IndexError)."""
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.training.trainer import TrainingInterrupted, train

    cfg = load_config(write_config(tmp_path, steps=50, checkpoint_every=1000, sample_every=2), DiffusionConfig)
    task = _task(cfg, demo_dir)
    previews = []

    def preview(ema_model, step, path):
        previews.append(step)
        if step == 2:  # what a Ctrl-C does once Python runs its handler, at a chosen moment
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    task.preview = preview
    with pytest.raises(TrainingInterrupted, match=r"interrupted at step 3; .*--resume"):
        train(task, cfg.train, tmp_path / "run")
    md = load_model_dir(tmp_path / "run")
    assert md.config["step"] == 3 and md.train_state()["step"] == 3
    assert previews == [2]

# --- failures inside the training loop (in-process, tiny) ----------------------------------------

def _task(cfg, demo_dir):
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.task import DiffusionTask
    from ldm_sprites.training.trainer import seed_everything

    data = load_sprite_data(demo_dir, DataSpec(16, label_column="type"))
    seed_everything(cfg.train.seed)
    return DiffusionTask(cfg, data.images, data.labels, data.classes)


def _poison_gradients(task, at_call: int):
    """From the ``at_call``-th batch on, the loss is finite but every gradient is NaN."""
    real_loss, calls = task.loss, [0]

    def loss(model, generator):
        calls[0] += 1
        value, logs = real_loss(model, generator)
        if calls[0] >= at_call:
            w = next(model.parameters())
            value = value + 0.0 * torch.sqrt((w - w.detach()).abs()).sum()  # d sqrt(0) = inf
        return value, logs

    task.loss = loss


@pytest.mark.parametrize("grad_clip", [1.0, 0.0])
def test_nan_gradient_with_finite_loss_stops_before_a_bad_checkpoint(demo_dir, tmp_path, grad_clip):
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.training.trainer import train

    cfg = load_config(write_config(tmp_path, steps=4, checkpoint_every=2, log_every=2,
                                   grad_clip=grad_clip), DiffusionConfig)
    task = _task(cfg, demo_dir)
    _poison_gradients(task, at_call=4)  # the last step of the second checkpoint interval
    with pytest.raises(UserError, match=r"grad_norm became nan between steps 3 and 4.*step-00000002"):
        train(task, cfg.train, tmp_path / "run")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000002"]
    weights = load_model_dir(tmp_path / "run").weights("model")
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_full_disk_at_a_checkpoint_keeps_the_previous_one(demo_dir, tmp_path, monkeypatch):
    from ldm_sprites import modeldir
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.training.trainer import train

    cfg = load_config(write_config(tmp_path, steps=4, checkpoint_every=2), DiffusionConfig)
    real, writes = modeldir.write_synced, [0]

    def fill_up(path, data):  # the disk fills up in the middle of the second checkpoint
        writes[0] += 1
        if writes[0] > 7:
            enospc()
        real(path, data)

    monkeypatch.setattr(modeldir, "write_synced", fill_up)
    with pytest.raises(UserError) as info:
        train(_task(cfg, demo_dir), cfg.train, tmp_path / "run")
    msg = info.value.message
    assert "step 4 not saved" in msg and "no space left on device" in msg
    assert "last good checkpoint" in msg and "step-00000002" in msg and "\n" not in msg
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000002"]
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
    md = load_model_dir(tmp_path / "run")
    assert md.weights("model") and md.train_state()["step"] == 2


def test_full_disk_while_logging(demo_dir, tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open

    def open_(file, mode="r", *a, **k):
        if str(file).endswith("log.jsonl") and "a" in mode:
            enospc()
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(builtins, "open", open_)
    res = run("train-diffusion", "--config", write_config(tmp_path), "--data", demo_dir,
              "--out", tmp_path / "run")
    assert_one_line_error(res, "log.jsonl", "no space left", "--resume")


def test_a_locked_run_directory_refuses_a_second_trainer(demo_dir, tmp_path):
    from ldm_sprites.training.runlock import RunLock

    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        res = run("train-diffusion", "--config", write_config(tmp_path), "--data", demo_dir,
                  "--out", out)
        assert_one_line_error(res, "in use by another training process")
    assert not list_checkpoints(out)
    # released: the same command now trains
    res = run("train-diffusion", "--config", write_config(tmp_path, steps=1), "--data", demo_dir,
              "--out", out)
    assert res.exit_code == 0, res.output
