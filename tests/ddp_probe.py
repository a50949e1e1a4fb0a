"""``accelerate launch tests/ddp_probe.py <ldmsprites args>``: the real CLI, plus a record per
process and step (rank, local loss, a hash of the parameters after the step) in ``$PROBE_DIR``,
so a test can check that the processes trained on different batches yet hold the same weights."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from ldm_sprites.cli import cli
from ldm_sprites.diffusion.task import DiffusionTask

_real_loss = DiffusionTask.loss


def _loss(self, model, generator):
    loss, logs = _real_loss(self, model, generator)
    self._probe_loss = float(loss.detach())
    return loss, logs


def _after_step(self, step: int, accelerator) -> None:
    h = hashlib.sha256()
    for p in self.model.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    record = {"step": step + 1, "rank": accelerator.process_index,
              "world": accelerator.num_processes, "main": accelerator.is_main_process,
              "pid": os.getpid(),
              "loss": self._probe_loss, "params": h.hexdigest()}
    path = Path(os.environ["PROBE_DIR"]) / f"rank{accelerator.process_index}.jsonl"
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


DiffusionTask.loss = _loss
DiffusionTask.after_step = _after_step

if __name__ == "__main__":
    torch.set_num_threads(1)
    cli.main(sys.argv[1:], prog_name="ldmsprites")
