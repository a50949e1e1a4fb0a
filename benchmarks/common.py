"""Shared helpers for benchmark scripts: machine description, timing, markdown tables."""

from __future__ import annotations

import os
import platform
import time

import torch
import torch.nn.functional as F


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}")


def timed(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best-of-``repeat`` wall time in seconds (best-of filters out other load on a shared CPU)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(str(r[k]) for k in keys) + " |")
    return "\n".join(out)


def eps_training_step(model, opt, schedule, x0: torch.Tensor, labels: torch.Tensor,
                      rng: torch.Generator, **model_kwargs) -> torch.Tensor:
    """One epsilon-prediction training step: draw t and noise from ``rng``, noise ``x0``,
    MSE against the noise, update. The loop body every benchmark times or trains with, so pixel,
    latent, DiT and plain-ViT numbers come from the same step."""
    t = torch.randint(schedule.T, (x0.shape[0],), generator=rng)
    noise = torch.randn(x0.shape, generator=rng)
    loss = F.mse_loss(model(schedule.q_sample(x0, t, noise), t, labels, **model_kwargs), noise)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()
