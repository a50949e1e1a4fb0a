"""``--time-budget``: duration parsing, the step plan (with a fake clock, never real timing), the
schedule and EMA following the plan, resuming a budgeted run, and the CLI's one-line errors."""

from __future__ import annotations

import json
import math

import pytest

from ldm_sprites.errors import UserError
from ldm_sprites.training import budget as B
from tests.hardening import assert_one_line_error, run, write_config


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("2h", 7200), ("90s", 90),
                                          ("1h30m", 5400), ("1.5h", 5400), ("45min", 2700),
                                          (" 2H 5M ", 7500), ("1m30s", 90)])
def test_durations_parse(text, seconds):
    assert B.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "", "abc", "30x", "1h1h", "m", "0s", "-5m", "1h 30"])
def test_bad_durations_are_one_line_user_errors(text):
    with pytest.raises(UserError) as err:
        B.parse_duration(text)
    assert "\n" not in err.value.message and "30m" in err.value.message


def test_plan_message_reads_like_the_issue():
    assert B.plan_message(1840, 1800, 65.2) == "time budget: ~1,840 steps in 30 min at 65 img/s"
    assert B.format_duration(5400) == "1 h 30 min" and B.format_duration(90) == "90 s"


def _drive(planner: B.BudgetPlanner, cost, start_step: int = 0, start_elapsed: float = 0.0,
           log_every: int = 10, max_steps: int = 100_000):
    """Run a planner against a fake clock: step ``s`` (1-based) costs ``cost(s)`` seconds."""
    step, t, total = start_step, start_elapsed, None
    while total is None or step < total:
        step += 1
        t += cost(step)
        total = planner.observe(step, t, check=step % log_every == 0)
        assert step < max_steps
    return step, t


def test_constant_speed_plans_the_exact_step_count():
    p = B.BudgetPlanner(budget=100.0, start_step=0, elapsed_before=0.0)
    seen = []
    step, t = 0, 0.0
    while p.total is None:
        step += 1
        t += 0.5
        seen.append(p.observe(step, t))
    # planned after WARMUP + MEASURE steps: 10 steps took 5 s, 95 s left at 0.5 s/step
    assert step == B.WARMUP_STEPS + B.MEASURE_STEPS == 10
    assert seen[:-1] == [None] * 9 and p.total == 10 + 190
    assert _drive(p, lambda s: 0.5, step, t) == (200, 100.0)
    assert p.replans == 0


def test_the_final_checkpoint_cost_is_kept_free():
    p = B.BudgetPlanner(budget=100.0, start_step=0, elapsed_before=0.0)
    p.reserve = 4.0
    step, t = _drive(p, lambda s: 0.5)
    assert step == 192 and t + p.reserve == pytest.approx(100.0)


def test_a_slowdown_re_plans_and_still_ends_within_5_percent():
    p = B.BudgetPlanner(budget=600.0, start_step=0, elapsed_before=0.0)
    first = []

    def cost(s):
        if p.total is not None and not first:
            first.append(p.total)
        return 0.5 if s < 300 else 1.5  # the machine gets 3x slower a quarter of the way in
    step, t = _drive(p, cost)
    assert first == [1200] and p.replans >= 1
    assert step < 1200 and abs(t - 600) <= 0.05 * 600


def test_a_speed_up_re_plans_to_more_steps():
    p = B.BudgetPlanner(budget=600.0, start_step=0, elapsed_before=0.0)
    step, t = _drive(p, lambda s: 1.0 if s < 100 else 0.25)
    assert step > 600 and abs(t - 600) <= 0.05 * 600


def test_a_budget_shorter_than_the_measurement_stops_in_time():
    p = B.BudgetPlanner(budget=3.0, start_step=0, elapsed_before=0.0)
    step, t = _drive(p, lambda s: 1.0)
    assert step == 3 and t <= 3.0


def test_a_resumed_run_plans_the_rest_of_its_total_budget():
    # 40 s of a 100 s budget were spent in an earlier session that reached step 80
    p = B.BudgetPlanner(budget=100.0, start_step=80, elapsed_before=40.0)
    step, t = _drive(p, lambda s: 0.5, start_step=80, start_elapsed=40.0)
    assert step == 200 and t == pytest.approx(100.0)


# --- the trainer with a fake clock --------------------------------------------------------------

class FakeClock:
    """Time moves only when a training batch is drawn: ``per_step`` seconds per loss() call."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _budget_task(cfg, demo_dir, clock: FakeClock, per_step: float):
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.diffusion.task import DiffusionTask
    from ldm_sprites.training.trainer import seed_everything

    data = load_sprite_data(demo_dir, DataSpec(16, label_column="type"))
    seed_everything(cfg.train.seed)
    task = DiffusionTask(cfg, data.images, data.labels, data.classes)
    real_loss = task.loss

    def loss(model, generator):
        clock.t += per_step
        return real_loss(model, generator)
    task.loss = loss
    return task


def _cfg(tmp_path, **train):
    from ldm_sprites.config_loader import load_config
    from ldm_sprites.diffusion.config import DiffusionConfig

    return load_config(write_config(tmp_path, log_every=5, checkpoint_every=1000, **train), DiffusionConfig)


def test_trainer_stops_on_budget_with_a_checkpoint_and_resume_continues(demo_dir, tmp_path):
    from ldm_sprites.modeldir import load_model_dir
    from ldm_sprites.training.trainer import train

    clock = FakeClock()
    cfg = _cfg(tmp_path, steps=5, warmup_steps=100, ema_decay=0.999)
    run_dir = tmp_path / "run"
    result = train(_budget_task(cfg, demo_dir, clock, 0.25), cfg.train, run_dir,
                   time_budget=10.0, clock=clock)
    # 0.25 s a step, 10 s budget: 40 steps (the config's steps: 5 are replaced by the plan)
    assert result["step"] == 40
    md = load_model_dir(run_dir)
    assert md.config["step"] == 40 and md.train_state()["elapsed_s"] == pytest.approx(10.0)
    t = md.config["train"]
    assert t["steps"] == 40
    assert t["warmup_steps"] == 4          # at most a tenth of the plan
    assert t["ema_decay"] == pytest.approx(1 - 1 / 8)   # EMA horizon: a fifth of the plan
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 40

    # the budget is the run's total: 10 s were spent, 5 more reach step 60
    cfg2 = _cfg(tmp_path, steps=5, **{k: t[k] for k in ("warmup_steps", "ema_decay")})
    cfg2.train.steps = t["steps"]
    result = train(_budget_task(cfg2, demo_dir, clock, 0.25), cfg2.train, run_dir, resume=True,
                   time_budget=15.0, clock=clock)
    assert result["step"] == 60
    assert load_model_dir(run_dir).train_state()["elapsed_s"] == pytest.approx(15.0)

    with pytest.raises(UserError, match=r"already trained 15 s .*whole --time-budget"):
        train(_budget_task(cfg2, demo_dir, clock, 0.25), cfg2.train, run_dir, resume=True,
              time_budget=15.0, clock=clock)


def test_the_end_of_the_run_is_rehearsed_and_its_time_kept_free(demo_dir, tmp_path):
    from ldm_sprites.modeldir import load_model_dir
    from ldm_sprites.training.trainer import train

    clock = FakeClock()
    cfg = _cfg(tmp_path, steps=5, sample_every=1000)
    task = _budget_task(cfg, demo_dir, clock, 0.25)
    grids = []

    def preview(ema_model, step, path):   # a sample grid that takes 2 s
        clock.t += 2.0
        grids.append(step)
    task.preview = preview
    result = train(task, cfg.train, tmp_path / "run", time_budget=20.0, clock=clock)
    # planned at step 10 (2.5 s), rehearsed there (+2 s), then 54 steps of 0.25 s leave 2 s free
    assert grids == [10, 64] and result["step"] == 64
    assert load_model_dir(tmp_path / "run").train_state()["elapsed_s"] == pytest.approx(20.0)

    clock2 = FakeClock()
    short = _budget_task(cfg, demo_dir, clock2, 1.0)
    short.preview = lambda *a: grids.append("late")
    result = train(short, _cfg(tmp_path, steps=5, sample_every=1000).train, tmp_path / "short",
                   time_budget=5.0, clock=clock2)
    assert result["step"] == 5 and "late" not in grids   # no untimed grid past the budget


def test_the_autoencoder_lr_decay_follows_the_planned_total():
    from ldm_sprites.autoencoder.config import AEConfig
    from ldm_sprites.autoencoder.task import AutoencoderTask

    cfg = AEConfig().train
    cfg.steps, cfg.warmup_steps = 100_000, 10
    f = AutoencoderTask.lr_lambda(None, cfg)
    assert f(500) > 0.99
    cfg.steps = 500            # what a time budget's plan does
    assert f(500) == pytest.approx(0.1)


# --- the CLI --------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["train-diffusion", "train-ae"])
def test_steps_with_time_budget_is_a_one_line_error(command, demo_dir, tmp_path):
    res = run(command, "--data", demo_dir, "--out", tmp_path / "r", "--steps", "5",
              "--time-budget", "30m")
    assert_one_line_error(res, "--steps", "--time-budget")
    res = run(command, "--data", demo_dir, "--out", tmp_path / "r", "--time-budget", "30")
    assert_one_line_error(res, "--time-budget '30'", "30m")
    assert not (tmp_path / "r").exists()


def test_api_train_diffusion_takes_a_time_budget(demo_dir, tmp_path):
    from ldm_sprites import api
    from ldm_sprites.modeldir import load_model_dir

    with pytest.raises(UserError, match="--steps and --time-budget"):
        api.train_diffusion(demo_dir, tmp_path / "x", steps=5, time_budget="1m")
    with pytest.raises(UserError, match="not a duration"):
        api.train_diffusion(demo_dir, tmp_path / "x", time_budget="soon")
    ckpt = api.train_diffusion(demo_dir, tmp_path / "run", config=write_config(tmp_path),
                               time_budget=3)
    md = load_model_dir(ckpt)
    assert md.config["train"]["steps"] == md.config["step"] >= 1
    assert md.train_state()["elapsed_s"] < 6   # 3 s, plus at most the last step and checkpoint


def test_cooldown_falls_linearly_to_zero_over_the_end_and_follows_the_plan():
    from ldm_sprites.autoencoder.config import AEConfig
    from ldm_sprites.autoencoder.task import AutoencoderTask
    from ldm_sprites.train_section import TrainSection, warmup_constant

    cfg = TrainSection(steps=1000, warmup_steps=10, cooldown=0.2)
    f = warmup_constant(cfg)
    assert f(0) == pytest.approx(0.1) and f(799) == 1.0 and f(800) == 1.0
    assert f(900) == pytest.approx(0.5) and f(1000) == 0.0
    cfg.steps = 500            # a time budget's re-plan moves the cooldown with it
    assert f(400) == 1.0 and f(450) == pytest.approx(0.5)
    assert warmup_constant(TrainSection(steps=1000, warmup_steps=10))(999) == 1.0   # default: none
    ae = AEConfig().train
    ae.steps, ae.warmup_steps, ae.cooldown = 1000, 10, 0.2
    g = AutoencoderTask.lr_lambda(None, ae)
    assert g(900) == pytest.approx(0.5 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 890 / 990))))


def test_cooldown_out_of_range_is_a_one_line_error(demo_dir, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  cooldown: 1.5\n")
    res = run("train-diffusion", "--config", cfg, "--data", demo_dir, "--out", tmp_path / "r")
    assert_one_line_error(res, "train.cooldown")
    assert not (tmp_path / "r").exists()
