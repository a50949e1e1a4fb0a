"""One training loop for every model of the project (DiT and autoencoder), through accelerate.

What a model-specific *task* supplies (see ``diffusion_task.DiffusionTask``):

* ``model`` – the ``nn.Module`` to optimise (built after ``seed_everything``),
* ``loss(model, generator) -> (loss, {name: tensor})`` – one training batch,
* ``config_dict()`` and ``classes`` – saved into every checkpoint,
* optional ``preview(ema_model, step, path)`` – writes a PNG grid,
* optional ``extra_state()/load_extra_state(d)`` and ``after_step(step, accelerator)`` – for tasks
  with extra parts (the autoencoder's discriminator),
* optional ``lr_lambda(train_cfg) -> f(step)`` – replaces the default constant LR after warm-up,
* optional ``on_checkpoint(ema_model, step)`` – runs before each checkpoint is written, so values
  that ``config_dict()`` saves can be refreshed (the autoencoder's latent scale factor).
* optional ``model_files`` – ``{name: bytes}`` copied into every checkpoint (the training set's
  palette, ``finish.palette.training_palette_files``).

What the loop guarantees: AdamW with linear warm-up, gradient clipping, EMA weights, a JSONL loss
log, checkpoints every N steps and at the end as complete model directories written atomically
(the previous one is kept), exact ``--resume`` (model, optimiser, scheduler, EMA, RNG, step),
Ctrl-C finishes the step and saves, a NaN/inf loss or gradient norm stops the run naming the last
good checkpoint (checked at every log step and before every checkpoint, so a checkpoint never holds
NaN weights; the gradient norm is the one clipping computes, or one more norm per step when
``grad_clip`` is 0; not checked under fp16, whose scaler skips inf steps), and a run directory is
locked against a second trainer. All randomness of a step comes from one
CPU ``torch.Generator`` whose state is checkpointed, so CPU runs are bit-reproducible.

``time_budget`` (seconds; ``budget.py``) replaces ``cfg.steps`` by a total planned from the
measured throughput, so that the LR schedule, the EMA horizon and the final checkpoint end on time.

Under ``accelerate launch`` (several processes) every process draws its own batches (its
generator is seeded with its rank and checkpointed per rank), DDP averages the gradients, so the
effective batch is ``batch_size`` x processes; only the main process locks the run directory and
writes checkpoints, logs and sample grids, and logged losses are averaged over the processes.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ldm_sprites.console import info, progress, warn
from ldm_sprites.errors import UserError
from ldm_sprites.fsutil import atomic_write_text, describe_os_error, ensure_dir
from ldm_sprites.modeldir import list_checkpoints, load_model_dir, prune_checkpoints, save_model_dir
from ldm_sprites.runtime import resolve_device
from ldm_sprites.training.ema import EMA
from ldm_sprites.training.runlock import RunLock

LOG_FILE = "log.jsonl"


class TrainingInterrupted(UserError):
    exit_code = 130


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def make_accelerator(device: str | None, mixed_precision: str):
    from accelerate import Accelerator

    dev = resolve_device(device)  # the one device policy; accelerate trains on CPU or CUDA only
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device} is not supported; use cpu or cuda "
                        "(use 'accelerate launch' for several GPUs)")
    cpu = dev.type == "cpu"
    if cpu and mixed_precision != "no":
        warn(f"--mixed-precision {mixed_precision} ignored on CPU: fp32 is faster there")
        mixed_precision = "no"
    return Accelerator(cpu=cpu, mixed_precision=mixed_precision)


def _lr_lambda(cfg):
    """Linear warm-up, then constant. Reads ``cfg`` at every call: a time budget may shorten it."""
    def f(step: int) -> float:
        return min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    return f


def _total_grad_norm(parameters) -> torch.Tensor | None:
    """The 2-norm over all gradients, as a device tensor (no sync), as clip_grad_norm_ returns it."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


def _rewrite_log(path: Path, upto_step: int) -> None:
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


class _SigintFlag:
    """Ctrl-C sets a flag; the loop finishes its step, checkpoints, then stops."""

    def __init__(self):
        self.hit = False
        self.prev = None

    def __enter__(self):
        try:
            self.prev = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: leave signals alone
            self.prev = None
        return self

    def _handler(self, signum, frame):
        if self.hit:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.hit = True
        warn("interrupt received: finishing this step and writing a checkpoint (Ctrl-C again to abort)")

    def __exit__(self, *exc):
        if self.prev is not None:
            signal.signal(signal.SIGINT, self.prev)
        return False


def train(task, cfg, run_dir: str | Path, resume: bool = False, device: str | None = None,
          stop_after: int | None = None, time_budget: float | None = None,
          clock=time.monotonic) -> dict:
    """Run (or resume) training. ``cfg`` is a ``config.TrainSection``.

    ``stop_after`` ends the loop at that step as if interrupted (tests use it to check that
    resuming gives the same result as an uninterrupted run). ``time_budget``: seconds of training
    for the whole run (previous sessions of a resumed run included) instead of ``cfg.steps``;
    ``clock`` is the time source it is measured with.
    """
    run_dir = ensure_dir(run_dir)
    accelerator = make_accelerator(device, cfg.mixed_precision)
    # One lock per run: the other processes of an ``accelerate launch`` run share it.
    lock = RunLock(run_dir) if accelerator.is_main_process else contextlib.nullcontext()
    with lock:
        return _train_locked(task, cfg, run_dir, resume, accelerator, stop_after, time_budget,
                             clock)


def _sync_float(accelerator, value: float) -> float:
    """The main process's ``value`` on every process (identity for one process)."""
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast

    return float(broadcast(torch.tensor([value], dtype=torch.float64, device=accelerator.device))[0])


def _train_locked(task, cfg, run_dir: Path, resume: bool, accelerator, stop_after, time_budget,
                  clock) -> dict:
    from ldm_sprites.training.budget import BudgetPlanner, format_duration

    existing = list_checkpoints(run_dir)
    if existing and not resume:
        raise UserError(f"{run_dir} already holds a training run (checkpoint {existing[-1].name}); "
                        "pass --resume to continue it or choose a new --out")
    model = task.model
    rank, world = accelerator.process_index, accelerator.num_processes
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999),
                                  weight_decay=cfg.weight_decay)
    lr_fn = task.lr_lambda(cfg) if hasattr(task, "lr_lambda") else _lr_lambda(cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_fn)
    ema = EMA(model, cfg.ema_decay)
    step = 0
    elapsed_before = 0.0   # training seconds of earlier sessions of this run
    log_path = run_dir / LOG_FILE
    if resume and existing:
        ckpt = load_model_dir(existing[-1])
        state = ckpt.train_state()
        if state is None:
            raise UserError(f"{existing[-1]} has no train_state.pt; it cannot be resumed")
        model.load_state_dict(ckpt.weights("model"))
        ema.load_state_dict(ckpt.weights("ema"))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        per_rank = state.get("generators") or [state["generator"]]
        if len(per_rank) == world:
            generator.set_state(per_rank[rank])
        elif rank == 0:
            generator.set_state(state["generator"])
        else:  # resumed with more processes than saved: fresh, distinct streams for the others
            generator.manual_seed(cfg.seed * 1000 + rank + 7919 * step)
        torch.set_rng_state(state["torch_rng"])
        ema.num_updates = int(state["ema_updates"])
        elapsed_before = float(state.get("elapsed_s", 0.0))
        if "task" in state and hasattr(task, "load_extra_state"):
            task.load_extra_state(state["task"])
        if accelerator.is_main_process:
            _rewrite_log(log_path, step)
        info(f"resuming {run_dir} from step {step}")
    elif resume:
        info(f"--resume: no checkpoint in {run_dir} yet, starting from step 0")

    model, optimizer = accelerator.prepare(model, optimizer)
    ema.model.to(accelerator.device)
    if hasattr(task, "to"):
        task.to(accelerator.device)
    planner = None
    if time_budget is not None:
        if elapsed_before >= time_budget:
            raise UserError(f"{run_dir} already trained {format_duration(elapsed_before)} "
                            f"(step {step}), its whole --time-budget of "
                            f"{format_duration(time_budget)}; pass a longer --time-budget "
                            "(the run's total) to train on")
        planner = BudgetPlanner(time_budget, step, elapsed_before)
    total = cfg.steps if planner is None else max(cfg.steps, step + 1)   # a budget plans it
    raw = accelerator.unwrap_model(model)
    # Compiling fuses the many small element-wise ops (norms, adaLN modulation, GELU) that dominate
    # a small transformer's step on a CPU; weights stay shared with ``model``.
    forward_model = torch.compile(model) if getattr(cfg, "compile", False) else model

    t_start = clock()

    def elapsed() -> float:
        """Training seconds of the whole run so far, by the main process's clock."""
        return _sync_float(accelerator, elapsed_before + clock() - t_start)

    def save_checkpoint(at_step: int) -> Path:
        ckpt_dir = run_dir / "checkpoints" / f"step-{at_step:08d}"
        if hasattr(task, "on_checkpoint"):
            task.on_checkpoint(ema.model, at_step)
        generators = [generator.get_state()]
        if world > 1:
            from accelerate.utils import gather_object

            generators = gather_object(generators)
        spent = elapsed()
        if accelerator.is_main_process:
            state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "step": at_step, "generator": generator.get_state(),
                     "generators": generators, "elapsed_s": spent,
                     "torch_rng": torch.get_rng_state(), "ema_updates": ema.num_updates}
            if hasattr(task, "extra_state"):
                state["task"] = task.extra_state()
            config = dict(task.config_dict(), train=asdict(cfg), step=at_step)
            try:
                save_model_dir(ckpt_dir, config, {"model": raw.state_dict(),
                                                  "ema": ema.state_dict()},
                               classes=task.classes, train_state=state,
                               extra_files=getattr(task, "model_files", None))
            except UserError as exc:  # full disk, permissions: the older checkpoints are intact
                raise UserError(f"checkpoint at step {at_step} not saved: {exc.message}; last good "
                                f"checkpoint: {last_good()} (fix that, then --resume)") from None
            prune_checkpoints(run_dir, cfg.keep_checkpoints)
        accelerator.wait_for_everyone()
        return ckpt_dir

    def last_good() -> str:
        ck = list_checkpoints(run_dir)
        return str(ck[-1]) if ck else "none (no checkpoint was written yet)"

    # A NaN/inf gradient with a finite loss would put NaN weights into the next checkpoint: its
    # norm is accumulated like the loss and checked at the same points. Not under fp16, whose
    # gradient scaler expects inf gradients now and then and skips those steps itself.
    check_grads = accelerator.scaler is None
    sums: dict[str, torch.Tensor] = {}
    n_in_sum = 0
    t_last = time.perf_counter()
    images_since = 0
    last_logged: dict = {}
    bar = progress(total=total, initial=step, desc=f"training {getattr(task, 'name', '')}".strip(),
                   unit="step", disable=None if accelerator.is_main_process else True)

    def flush_log(at_step: int) -> dict:
        nonlocal sums, n_in_sum, t_last, images_since
        if n_in_sum == 0:
            return {}
        keys = list(sums)   # insertion order, the same on every process: the loss first
        means = torch.stack([sums[k] / n_in_sum for k in keys])
        if world > 1:
            means = accelerator.reduce(means, "mean")   # the loss over the whole effective batch
        values = dict(zip(keys, means.tolist()))  # the one sync per interval
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise UserError(f"{bad[0]} became {values[bad[0]]} between steps "
                            f"{at_step - n_in_sum + 1} and {at_step}; last good checkpoint: "
                            f"{last_good()} (train again with a lower --lr or more warmup_steps; "
                            "--resume keeps the run's settings)")
        now = time.perf_counter()
        record = {"step": at_step, "lr": scheduler.get_last_lr()[0],
                  "img_per_s": images_since / max(now - t_last, 1e-9),
                  # every process draws a batch: an epoch goes by ``world`` times faster
                  "epoch": getattr(task, "epoch_at", lambda s: None)(at_step * world), **values}
        if accelerator.is_main_process:
            try:
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
            except OSError as exc:
                raise UserError(f"{describe_os_error(log_path, exc)}; last good checkpoint: "
                                f"{last_good()} (continue with --resume)") from None
        sums, n_in_sum, t_last, images_since = {}, 0, now, 0
        bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4f}")
        return record

    def follow_plan(new_total: int, at_elapsed: float, why: str = "") -> None:
        """Adopt a (re-)planned step total: schedule, EMA horizon and progress bar follow it."""
        nonlocal total, planned_once, told
        from ldm_sprites.training.budget import (MIN_EMA_HORIZON_SHARE, MIN_WARMUP_SHARE,
                                                 plan_message)
        first, planned_once = not planned_once, True
        total = cfg.steps = new_total
        span = max(1, new_total - planner.start_step)
        if cfg.warmup_steps > MIN_WARMUP_SHARE * new_total and step <= cfg.warmup_steps:
            cfg.warmup_steps = max(1, int(MIN_WARMUP_SHARE * new_total))
        horizon = MIN_EMA_HORIZON_SHARE * span
        if horizon >= 1 and 1.0 / max(1e-12, 1.0 - cfg.ema_decay) > horizon:
            cfg.ema_decay = ema.decay = round(1.0 - 1.0 / horizon, 6)
        bar.total = total
        bar.refresh()
        rate = planner.seconds_per_step(step, at_elapsed)
        img_s = task_batch * world / rate if rate else 0.0
        # say so on the first plan and when the total moved by 5 % since it was last said
        if accelerator.is_main_process and (first or why or abs(total - told) > 0.05 * told):
            told = total
            info(plan_message(total, planner.budget, img_s, planner.start_step) if first else
                 f"time budget: re-planned to ~{total:,} steps ({why or f'{img_s:,.0f} img/s now'})")

    task_batch = getattr(task, "batch_size", 0)
    planned_once = rehearsed = False
    told = 0   # the step total the user was last told
    planner_elapsed = 0.0
    ckpt_cost = 0.0
    stopping = False
    with _SigintFlag() as sigint:
        model.train()
        while step < (total if stop_after is None else min(total, stop_after)):
            with accelerator.autocast():
                loss, logs = task.loss(forward_model, generator)
            accelerator.backward(loss)
            grad_norm = None
            if cfg.grad_clip and cfg.grad_clip > 0:
                grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            elif check_grads:
                grad_norm = _total_grad_norm(model.parameters())
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            ema.update(raw)
            if hasattr(task, "after_step"):
                task.after_step(step, accelerator)
            step += 1
            images_since += task_batch * world
            if planner is not None:
                planner.reserve = ckpt_cost
                planner_elapsed = elapsed()
                planned = planner.observe(step, planner_elapsed, check=step % cfg.log_every == 0)
                if planned is None:
                    total = max(total, step + 1)   # still measuring: keep going
                elif planned != total or not planned_once:
                    follow_plan(planned, planner_elapsed)
            if check_grads and isinstance(grad_norm, torch.Tensor):
                logs = {**logs, "grad_norm": grad_norm}  # summed like the loss: no sync per step
            for k, v in {"loss": loss, **logs}.items():
                v = v.detach().float()
                sums[k] = sums[k] + v if k in sums else v.clone()
            n_in_sum += 1
            bar.update(1)
            # Read the flag once: a Ctrl-C landing between the checkpoint decision and the break
            # would otherwise stop the run without the checkpoint it promised.
            stopping = sigint.hit
            at_ckpt = (step % cfg.checkpoint_every == 0 or step == total or stopping
                       or step == stop_after)
            if step % cfg.log_every == 0 or at_ckpt:
                last_logged = flush_log(step) or last_logged
            # Under a time budget the sample grid and checkpoint that end the run are rehearsed
            # once, right after the plan, so that the plan keeps their time free; a grid that
            # was never timed is left out at the end rather than run past the budget.
            rehearse = planner is not None and planned_once and not rehearsed and step < total
            grid = bool(cfg.sample_every) and hasattr(task, "preview") and (
                step % cfg.sample_every == 0 or step == total or rehearse)
            if grid and planner is not None and step == total and not rehearsed:
                grid = False
                if accelerator.is_main_process:
                    info("time budget: no sample grid at the end (the budget ran out before one "
                         "could be timed); ldmsprites generate draws one")
            if at_ckpt or rehearse or grid:
                t_ckpt = clock()
                if grid and accelerator.is_main_process:
                    task.preview(ema.model, step, run_dir / "samples" / f"step-{step:08d}.png")
                if at_ckpt or rehearse:
                    save_checkpoint(step)
                cost = _sync_float(accelerator, clock() - t_ckpt)
                if (at_ckpt or rehearse) and (grid or not cfg.sample_every):
                    ckpt_cost = cost   # what the run's end costs, kept free by a time budget
                if rehearse:
                    rehearsed = True
                    planner.reserve = ckpt_cost
                    planner.exclude(cost)   # a one-off: not part of the per-step rate
                    now = elapsed()
                    new_total = planner.replan(step, now)
                    if new_total != total:
                        follow_plan(new_total, now, f"the end's checkpoint and sample grid take "
                                                    f"{format_duration(cost)}")
            if stopping:
                break
    bar.close()
    spent = elapsed()
    if planner is not None and accelerator.is_main_process:
        info(f"time budget: {step:,} steps, {format_duration(spent)} of "
             f"{format_duration(planner.budget)} trained")
    ckpt = list_checkpoints(run_dir)[-1]
    if stopping and step < total:
        raise TrainingInterrupted(f"interrupted at step {step}; checkpoint saved to {ckpt}; "
                                  "continue with the same command plus --resume")
    return {"step": step, "checkpoint": str(ckpt), "last": last_logged}
