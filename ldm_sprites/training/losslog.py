"""The run's JSONL loss log: values summed on the device per step, one record per log interval."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import torch

from ldm_sprites.errors import UserError
from ldm_sprites.fsutil import atomic_write_text, describe_os_error

LOG_FILE = "log.jsonl"


def rewrite_log(path: Path, upto_step: int) -> None:
    """After a resume, drop log lines newer than the checkpoint so the curve has no duplicates."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= upto_step:
                keep.append(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a kill
    atomic_write_text(path, "".join(l + "\n" for l in keep))


class LossLog:
    """Sums every logged value over a log interval without a device sync per step; ``flush``
    averages them (over the processes too), checks they are finite and appends one record.

    ``last_good()`` names the newest checkpoint for the error messages."""

    def __init__(self, path: Path, accelerator, last_good: Callable[[], str]):
        self.path = path
        self.accelerator = accelerator
        self.last_good = last_good
        self.sums: dict[str, torch.Tensor] = {}
        self.n = 0
        self.images = 0          # images trained on since the last record (all processes)
        self.t_last = time.perf_counter()

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.n += 1

    def flush(self, at_step: int, lr: float, epoch: float | None) -> dict:
        """Write the interval's record (the main process) and return it; {} when empty."""
        if self.n == 0:
            return {}
        keys = list(self.sums)   # insertion order, the same on every process: the loss first
        means = torch.stack([self.sums[k] / self.n for k in keys])
        if self.accelerator.num_processes > 1:
            means = self.accelerator.reduce(means, "mean")   # the loss over the whole batch
        values = dict(zip(keys, means.tolist()))  # the one sync per interval
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise UserError(f"{bad[0]} became {values[bad[0]]} between steps "
                            f"{at_step - self.n + 1} and {at_step}; last good checkpoint: "
                            f"{self.last_good()} (train again with a lower --lr or more "
                            "warmup_steps; --resume keeps the run's settings)")
        now = time.perf_counter()
        record = {"step": at_step, "lr": lr,
                  "img_per_s": self.images / max(now - self.t_last, 1e-9),
                  "epoch": epoch, **values}
        if self.accelerator.is_main_process:
            try:
                with open(self.path, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
            except OSError as exc:
                raise UserError(f"{describe_os_error(self.path, exc)}; last good checkpoint: "
                                f"{self.last_good()} (continue with --resume)") from None
        self.sums, self.n, self.t_last, self.images = {}, 0, now, 0
        return record
