"""One training loop for every model of the project (DiT and autoencoder), through accelerate.

What a model-specific *task* supplies — the model, one batch's loss, the checkpoint's config, a
preview grid and a few optional hooks — is the ``task.Task`` protocol.

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
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ldm_sprites.console import info, progress, warn
from ldm_sprites.errors import UserError
from ldm_sprites.fsutil import ensure_dir
from ldm_sprites.modeldir import list_checkpoints, load_model_dir, prune_checkpoints, save_model_dir
from ldm_sprites.runtime import resolve_device
from ldm_sprites.training.ema import EMA
from ldm_sprites.training.interrupt import SigintFlag
from ldm_sprites.training.losslog import LOG_FILE, LossLog, rewrite_log
from ldm_sprites.training.runlock import RunLock
from ldm_sprites.training.task import Task


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


def _total_grad_norm(parameters) -> torch.Tensor | None:
    """The 2-norm over all gradients, as a device tensor (no sync), as clip_grad_norm_ returns it."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


def _any_process(accelerator, flag: bool) -> bool:
    """True on every process if ``flag`` is true on any (identity for one process): a signal
    reaches the ranks of `accelerate launch` at different steps, and all must stop at one."""
    if accelerator.num_processes == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=accelerator.device)
    return bool(accelerator.reduce(t, reduction="sum")[0] > 0)


def _sync_float(accelerator, value: float) -> float:
    """The main process's ``value`` on every process (identity for one process)."""
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast

    return float(broadcast(torch.tensor([value], dtype=torch.float64, device=accelerator.device))[0])


def train(task: Task, cfg, run_dir: str | Path, resume: bool = False, device: str | None = None,
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
        existing = list_checkpoints(run_dir)
        if existing and not resume:
            raise UserError(f"{run_dir} already holds a training run (checkpoint "
                            f"{existing[-1].name}); pass --resume to continue it or choose a new "
                            "--out")
        session = _Session(task, cfg, run_dir, accelerator, clock)
        if existing:
            session.restore(existing[-1])
        elif resume:
            info(f"--resume: no checkpoint in {run_dir} yet, starting from step 0")
        session.prepare(time_budget)
        return session.run(stop_after)


class _Session:
    """One session of a training run: optimiser, LR schedule, EMA, generator, step, log, budget.

    ``restore`` loads a checkpoint, ``prepare`` hands the model to accelerate and plans a time
    budget, ``run`` loops over ``_train_step`` and ``_end_of_step`` (log, grid, checkpoint)."""

    def __init__(self, task: Task, cfg, run_dir: Path, accelerator, clock):
        self.task, self.cfg, self.run_dir, self.accelerator, self.clock = (
            task, cfg, run_dir, accelerator, clock)
        self.is_main = accelerator.is_main_process
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        self.model = task.model
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.rank)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.999),
                                           weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, task.lr_lambda(cfg))
        self.ema = EMA(self.model, cfg.ema_decay)
        self.step = 0
        self.elapsed_before = 0.0   # training seconds of earlier sessions of this run
        self.log_path = run_dir / LOG_FILE
        self.planner = None
        self.planned_once = self.rehearsed = False
        self.told = 0               # the step total the user was last told
        self.ckpt_cost = 0.0        # what the run's end costs, kept free by a time budget
        self.last_logged: dict = {}

    # -- setting up -------------------------------------------------------------------------------

    def restore(self, path: Path) -> None:
        """Continue from the checkpoint ``path``: weights, optimiser, schedule, EMA, RNG, step."""
        ckpt = load_model_dir(path)
        state = ckpt.train_state()
        if state is None:
            raise UserError(f"{path} has no train_state.pt; it cannot be resumed")
        self.model.load_state_dict(ckpt.weights("model"))
        self.ema.load_state_dict(ckpt.weights("ema"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = step = int(state["step"])
        per_rank = state["generators"]
        if len(per_rank) == self.world:
            self.generator.set_state(per_rank[self.rank])
        elif self.rank == 0:
            self.generator.set_state(state["generator"])
        else:  # resumed with more processes than saved: fresh, distinct streams for the others
            self.generator.manual_seed(self.cfg.seed * 1000 + self.rank + 7919 * step)
        torch.set_rng_state(state["torch_rng"])
        self.ema.num_updates = int(state["ema_updates"])
        self.elapsed_before = float(state["elapsed_s"])
        if "task" in state:
            self.task.load_extra_state(state["task"], ckpt)
        if self.is_main:
            rewrite_log(self.log_path, step)
        info(f"resuming {self.run_dir} from step {step}")

    def prepare(self, time_budget: float | None) -> None:
        from ldm_sprites.training.budget import BudgetPlanner, format_duration

        acc, cfg = self.accelerator, self.cfg
        self.model, self.optimizer = acc.prepare(self.model, self.optimizer)
        self.ema.model.to(acc.device)
        self.task.to(acc.device)
        if time_budget is not None:
            if self.elapsed_before >= time_budget:
                raise UserError(f"{self.run_dir} already trained "
                                f"{format_duration(self.elapsed_before)} (step {self.step}), its "
                                f"whole --time-budget of {format_duration(time_budget)}; pass a "
                                "longer --time-budget (the run's total) to train on")
            self.planner = BudgetPlanner(time_budget, self.step, self.elapsed_before)
        # a budget plans the total
        self.total = cfg.steps if self.planner is None else max(cfg.steps, self.step + 1)
        self.raw = acc.unwrap_model(self.model)
        # Compiling fuses the many small element-wise ops (norms, adaLN modulation, GELU) that
        # dominate a small transformer's step on a CPU; weights stay shared with ``model``.
        self.forward_model = torch.compile(self.model) if getattr(cfg, "compile", False) \
            else self.model
        self.t_start = self.clock()
        # A NaN/inf gradient with a finite loss would put NaN weights into the next checkpoint:
        # its norm is accumulated like the loss and checked at the same points. Not under fp16,
        # whose gradient scaler expects inf gradients now and then and skips those steps itself.
        self.check_grads = acc.scaler is None
        self.log = LossLog(self.log_path, acc, self.last_good)
        self.bar = progress(total=self.total, initial=self.step,
                            desc=f"training {self.task.name}".strip(), unit="step",
                            disable=None if self.is_main else True)

    def elapsed(self) -> float:
        """Training seconds of the whole run so far, by the main process's clock."""
        return _sync_float(self.accelerator, self.elapsed_before + self.clock() - self.t_start)

    def last_good(self) -> str:
        ck = list_checkpoints(self.run_dir)
        return str(ck[-1]) if ck else "none (no checkpoint was written yet)"

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop_after: int | None) -> dict:
        stopping = False
        with SigintFlag() as sigint:
            self.model.train()
            while self.step < (self.total if stop_after is None else min(self.total, stop_after)):
                self._train_step()
                # Read the flag once: a Ctrl-C landing between the checkpoint decision and the
                # break would otherwise stop the run without the checkpoint it promised.
                stopping = _any_process(self.accelerator, sigint.hit)
                self._end_of_step(stopping or self.step == stop_after)
                if stopping:
                    break
        self.bar.close()
        spent = self.elapsed()
        if self.planner is not None and self.is_main:
            from ldm_sprites.training.budget import format_duration

            info(f"time budget: {self.step:,} steps, {format_duration(spent)} of "
                 f"{format_duration(self.planner.budget)} trained")
        ckpt = list_checkpoints(self.run_dir)[-1]
        if stopping and self.step < self.total:
            err = TrainingInterrupted(f"interrupted at step {self.step}; checkpoint saved to "
                                      f"{ckpt}; continue with the same command plus --resume")
            if sigint.signum is not None:   # the shell's convention: 128 + the signal's number
                err.exit_code = 128 + int(sigint.signum)
            raise err
        return {"step": self.step, "checkpoint": str(ckpt), "last": self.last_logged}

    def _train_step(self) -> None:
        """One optimiser step; its logged values are summed into ``self.log``."""
        acc, cfg, task = self.accelerator, self.cfg, self.task
        with acc.autocast():
            loss, logs = task.loss(self.forward_model, self.generator)
        acc.backward(loss)
        grad_norm = None
        if cfg.grad_clip and cfg.grad_clip > 0:
            grad_norm = acc.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        elif self.check_grads:
            grad_norm = _total_grad_norm(self.model.parameters())
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.raw)
        task.after_step(self.step, acc)
        self.step += 1
        self.log.images += task.batch_size * self.world
        if self.planner is not None:
            self._observe_budget()
        if self.check_grads and isinstance(grad_norm, torch.Tensor):
            logs = {**logs, "grad_norm": grad_norm}  # summed like the loss: no sync per step
        self.log.add({"loss": loss, **logs})
        self.bar.update(1)

    def _end_of_step(self, stop_here: bool) -> None:
        """The log record, sample grid and checkpoint that are due after this step.

        Under a time budget the sample grid and checkpoint that end the run are rehearsed once,
        right after the plan, so that the plan keeps their time free; a grid that was never timed
        is left out at the end rather than run past the budget."""
        step, cfg = self.step, self.cfg
        at_ckpt = step % cfg.checkpoint_every == 0 or step == self.total or stop_here
        if step % cfg.log_every == 0 or at_ckpt:
            self.last_logged = self._flush_log() or self.last_logged
        rehearse = self.planner is not None and self.planned_once and not self.rehearsed \
            and step < self.total
        grid = bool(cfg.sample_every) and (step % cfg.sample_every == 0 or step == self.total
                                           or rehearse)
        if grid and self.planner is not None and step == self.total and not self.rehearsed:
            grid = False
            if self.is_main:
                info("time budget: no sample grid at the end (the budget ran out before one "
                     "could be timed); ldmsprites generate draws one")
        if not (at_ckpt or rehearse or grid):
            return
        t_ckpt = self.clock()
        if grid and self.is_main:
            self.task.preview(self.ema.model, step, self.run_dir / "samples" / f"step-{step:08d}.png")
        if at_ckpt or rehearse:
            self.save_checkpoint(step)
        cost = _sync_float(self.accelerator, self.clock() - t_ckpt)
        if (at_ckpt or rehearse) and (grid or not cfg.sample_every):
            self.ckpt_cost = cost
        if rehearse:
            self._replan_after_rehearsal(cost)

    def _flush_log(self) -> dict:
        epoch = self.task.epoch_at(self.step * self.world)  # each process draws its own batch
        record = self.log.flush(self.step, self.scheduler.get_last_lr()[0], epoch)
        if record:
            self.bar.set_postfix(loss=f"{record.get('loss', float('nan')):.4f}")
        return record

    def save_checkpoint(self, at_step: int) -> Path:
        """Write the complete model directory ``checkpoints/step-<at_step>`` (main process)."""
        acc, task = self.accelerator, self.task
        ckpt_dir = self.run_dir / "checkpoints" / f"step-{at_step:08d}"
        task.on_checkpoint(self.ema.model, at_step)
        generators = [self.generator.get_state()]
        if self.world > 1:
            from accelerate.utils import gather_object

            generators = gather_object(generators)
        spent = self.elapsed()
        if self.is_main:
            state = {"optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(), "step": at_step,
                     "generator": self.generator.get_state(), "generators": generators,
                     "elapsed_s": spent, "torch_rng": torch.get_rng_state(),
                     "ema_updates": self.ema.num_updates}
            extra = task.extra_state()
            if extra is not None:
                state["task"] = extra
            config = dict(task.config_dict(), train=asdict(self.cfg), step=at_step)
            try:
                save_model_dir(ckpt_dir, config, {"model": self.raw.state_dict(),
                                                  "ema": self.ema.state_dict()},
                               classes=task.classes, train_state=state,
                               extra_files=task.model_files)
            except UserError as exc:  # full disk, permissions: the older checkpoints are intact
                raise UserError(f"checkpoint at step {at_step} not saved: {exc.message}; last good "
                                f"checkpoint: {self.last_good()} (fix that, then --resume)") from None
            prune_checkpoints(self.run_dir, self.cfg.keep_checkpoints)
        acc.wait_for_everyone()
        return ckpt_dir

    # -- the time budget --------------------------------------------------------------------------

    def _observe_budget(self) -> None:
        planner = self.planner
        planner.reserve = self.ckpt_cost
        now = self.elapsed()
        planned = planner.observe(self.step, now, check=self.step % self.cfg.log_every == 0)
        if planned is None:
            self.total = max(self.total, self.step + 1)   # still measuring: keep going
        elif planned != self.total or not self.planned_once:
            self._follow_plan(planned, now)

    def _replan_after_rehearsal(self, cost: float) -> None:
        from ldm_sprites.training.budget import format_duration

        self.rehearsed = True
        self.planner.reserve = self.ckpt_cost
        self.planner.exclude(cost)   # a one-off: not part of the per-step rate
        now = self.elapsed()
        new_total = self.planner.replan(self.step, now)
        if new_total != self.total:
            self._follow_plan(new_total, now, f"the end's checkpoint and sample grid take "
                                              f"{format_duration(cost)}")

    def _follow_plan(self, new_total: int, at_elapsed: float, why: str = "") -> None:
        """Adopt a (re-)planned step total: schedule, EMA horizon and progress bar follow it."""
        from ldm_sprites.training.budget import (MIN_EMA_HORIZON_SHARE, MIN_WARMUP_SHARE,
                                                 plan_message)
        cfg, planner = self.cfg, self.planner
        first, self.planned_once = not self.planned_once, True
        self.total = cfg.steps = new_total
        span = max(1, new_total - planner.start_step)
        if cfg.warmup_steps > MIN_WARMUP_SHARE * new_total and self.step <= cfg.warmup_steps:
            cfg.warmup_steps = max(1, int(MIN_WARMUP_SHARE * new_total))
        horizon = MIN_EMA_HORIZON_SHARE * span
        if horizon >= 1 and 1.0 / max(1e-12, 1.0 - cfg.ema_decay) > horizon:
            cfg.ema_decay = self.ema.decay = round(1.0 - 1.0 / horizon, 6)
        self.bar.total = self.total
        self.bar.refresh()
        rate = planner.seconds_per_step(self.step, at_elapsed)
        img_s = self.task.batch_size * self.world / rate if rate else 0.0
        # say so on the first plan and when the total moved by 5 % since it was last said
        if self.is_main and (first or why or abs(self.total - self.told) > 0.05 * self.told):
            self.told = self.total
            info(plan_message(self.total, planner.budget, img_s, planner.start_step) if first else
                 f"time budget: re-planned to ~{self.total:,} steps "
                 f"({why or f'{img_s:,.0f} img/s now'})")
