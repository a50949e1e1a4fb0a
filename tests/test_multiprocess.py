"""Two processes through ``accelerate launch`` (gloo on the CPU): the CLI as users run it.

Both processes train on their own batches, DDP averages the gradients (identical parameters
after every step although the local losses differ), only the main process locks the run and
writes checkpoints and the log, the effective batch is batch_size x processes (the log's epoch
counter), and ``--resume`` continues the run with every process's own random stream.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ldm_sprites.modeldir import list_checkpoints, load_model_dir

ROOT = Path(__file__).resolve().parents[1]
BATCH = 8

pytestmark = pytest.mark.skipif(
    shutil.which("accelerate") is None or not torch.distributed.is_available()
    or not torch.distributed.is_gloo_available(),
    reason="needs the accelerate launcher and torch.distributed with gloo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(probe: Path, *args) -> None:
    # --multi_gpu is accelerate's name for "start N processes with torchrun"; --device cpu makes
    # them CPU processes, so torch.distributed uses gloo (``accelerate launch --cpu`` alone starts
    # one process unless mpirun is set up).
    env = dict(os.environ, PROBE_DIR=str(probe), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               CUDA_VISIBLE_DEVICES="")
    # The port is free when picked but released before torchrun binds it, so another process
    # may take it in between: then (only then) start again on a new port.
    for _ in range(3):
        cmd = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), str(ROOT / "tests" / "ddp_probe.py"),
               "train-diffusion", "--device", "cpu", *map(str, args)]
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=240)
        if res.returncode == 0 or "EADDRINUSE" not in res.stdout + res.stderr:
            break
    assert res.returncode == 0, res.stdout + res.stderr


def _records(probe: Path, rank: int) -> dict[int, dict]:
    rows = [json.loads(line) for line in (probe / f"rank{rank}.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in rows}


def test_two_processes_train_one_model_and_resume(demo_dir, tmp_path):
    probe, run = tmp_path / "probe", tmp_path / "run"
    probe.mkdir()
    common = ["--data", demo_dir, "--out", run, "--preset", "nano", "--size", "16",
              "--batch-size", BATCH, "--sample-every", "0", "--label-column", "type",
              "--checkpoint-every", "2"]
    _launch(probe, *common, "--steps", "4")
    r0, r1 = _records(probe, 0), _records(probe, 1)
    assert sorted(r0) == sorted(r1) == [1, 2, 3, 4]
    assert {r["world"] for r in [*r0.values(), *r1.values()]} == {2}
    assert r0[1]["main"] and not r1[1]["main"]
    # different batches on each process, the same weights after every step: gradients agree
    assert any(r0[s]["loss"] != r1[s]["loss"] for s in r0)
    assert all(r0[s]["params"] == r1[s]["params"] for s in r0)
    assert r0[1]["params"] != r0[2]["params"]
    # only the main process holds the lock and writes: one log line per log step, one checkpoint
    assert (run / ".lock").read_text() == str(r0[1]["pid"])
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    # effective batch = BATCH x 2 processes: after 2 steps 32 of the 24 demo sprites were drawn
    assert log[0]["epoch"] == round(2 * BATCH * 2 / 24, 3)
    assert [c.name for c in list_checkpoints(run)] == ["step-00000002", "step-00000004"]
    state = load_model_dir(run).train_state()
    assert len(state["generators"]) == 2
    assert not list(run.glob("checkpoints/*.tmp"))

    _launch(probe, *common, "--steps", "6", "--resume")
    r0, r1 = _records(probe, 0), _records(probe, 1)
    assert sorted(r0) == sorted(r1) == [1, 2, 3, 4, 5, 6]
    assert all(r0[s]["params"] == r1[s]["params"] for s in (5, 6))
    assert r0[5]["loss"] != r1[5]["loss"]    # each process resumed its own random stream
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4, 6]
    md = load_model_dir(run)
    assert md.config["step"] == 6
    final = torch.cat([t.flatten() for t in md.weights("model").values()])
    assert torch.isfinite(final).all()
