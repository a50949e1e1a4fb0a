"""Training on a time budget: ``--time-budget 30m`` instead of ``--steps``.

The trainer runs ``WARMUP_STEPS`` steps that are not timed (allocation, first-call costs), times
the next ``MEASURE_STEPS``, and sets the run's total step count so that the last step and the
final checkpoint end when the budget does. Right after that plan it writes a checkpoint and a
sample grid once, to time what the end of the run will cost, and plans again keeping that time
free (a budget that runs out before then ends without a final grid). Everything that depends on the total (the LR schedule's
decay, the EMA horizon, the progress bar, the final checkpoint and sample grid) follows that
number. At every log step it re-checks the projection with the throughput measured since the
plan (checkpoints and sample grids included) and re-plans when it would miss by more than
``REPLAN_SHARE`` of the budget; once the budget is spent it finishes the step and checkpoints.

The budget is the **total training time of the run**: ``--resume --time-budget 2h`` on a run that
already trained 50 minutes trains ~70 more (like ``--steps``, which is also the run's total).
Decoding and encoding the data set before the first step are not counted (both are cached after
the first run).

Decisions use the main process's clock only and are shared with every process, so all
processes of an ``accelerate launch`` run stop at the same step.
"""

from __future__ import annotations

import math
import re

from ldm_sprites.errors import UserError

WARMUP_STEPS = 2        # untimed: the first steps pay one-off costs
MEASURE_STEPS = 8       # timed before the first plan
REPLAN_SHARE = 0.02     # re-plan when the projected end misses the budget by more than this
MIN_EMA_HORIZON_SHARE = 0.2   # EMA averages over at most a fifth of the planned steps
MIN_WARMUP_SHARE = 0.1        # warm-up takes at most a tenth of the planned steps

_UNIT_S = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|min|m|s)", re.IGNORECASE)


def parse_duration(text: str, option: str = "--time-budget") -> float:
    """``'30m'``, ``'2h'``, ``'90s'``, ``'1h30m'``, ``'1.5h'`` -> seconds (UserError otherwise)."""
    s = str(text).strip().lower().replace(" ", "")
    example = "e.g. 30m, 2h, 90s or 1h30m"
    if not s:
        raise UserError(f"{option} is empty; give a duration, {example}")
    parts = list(_PART.finditer(s))
    if not parts or "".join(p.group(0) for p in parts) != s:
        hint = " (add a unit)" if re.fullmatch(r"\d+(\.\d+)?", s) else ""
        raise UserError(f"{option} '{text}' is not a duration{hint}; use {example}")
    units = [p.group(2) for p in parts]
    if len(set(_UNIT_S[u] for u in units)) != len(units):
        raise UserError(f"{option} '{text}' names a unit twice; use {example}")
    seconds = sum(float(p.group(1)) * _UNIT_S[p.group(2)] for p in parts)
    if seconds < 1:
        raise UserError(f"{option} '{text}' is shorter than a second; use {example}")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> '30 min', '2 h', '1 h 30 min', '90 s', '0.4 s'."""
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    seconds = int(round(seconds))
    if seconds < 120 and seconds % 60:
        return f"{seconds} s"
    h, m = divmod(round(seconds / 60), 60)
    if h and m:
        return f"{h} h {m} min"
    return f"{h} h" if h else f"{m} min"


def steps_that_fit(seconds_left: float, seconds_per_step: float) -> int:
    """Whole steps of ``seconds_per_step`` that fit in ``seconds_left`` (never negative)."""
    if seconds_left <= 0:
        return 0
    return int(math.floor(seconds_left / max(seconds_per_step, 1e-9) + 1e-9))


def plan_total(step: int, elapsed: float, budget: float, seconds_per_step: float,
               reserve: float = 0.0) -> int:
    """Total step count that ends the run at ``budget`` seconds of training.

    ``step`` steps took ``elapsed`` seconds so far; each further step costs ``seconds_per_step``;
    ``reserve`` seconds are kept for the final checkpoint (and sample grid).
    """
    return step + steps_that_fit(budget - elapsed - reserve, seconds_per_step)


def check_exclusive(steps, time_budget) -> float | None:
    """The CLI rule: ``--steps`` and ``--time-budget`` together is an error. Returns seconds."""
    if time_budget is None:
        return None
    if steps is not None:
        raise UserError("--steps and --time-budget both set the length of the run; give one of them")
    return parse_duration(time_budget)


def plan_message(total: int, budget: float, img_per_s: float, step: int = 0) -> str:
    """'~1,840 steps in 30 min at 65 img/s' (plus where a resumed run stands)."""
    done = f" ({step:,} done)" if step else ""
    return f"time budget: ~{total:,} steps{done} in {format_duration(budget)} at {img_per_s:,.0f} img/s"


class BudgetPlanner:
    """The step plan of one budgeted run. Pure bookkeeping: the trainer feeds it clock readings.

    ``observe(step, elapsed)`` is called after every step with the run's total training time so
    far (previous sessions included) and returns the total step count to train to (``None``
    while the first measurement is still running).
    """

    def __init__(self, budget: float, start_step: int, elapsed_before: float):
        self.budget = float(budget)
        self.start_step = start_step
        self.elapsed_before = float(elapsed_before)
        self.total: int | None = None
        self.t_measure: tuple[int, float] | None = None   # (step, elapsed) when timing began
        self.reserve = 0.0          # seconds kept for the final checkpoint / sample grid
        self.last_step_cost = 0.0
        self._prev: tuple[int, float] | None = None
        self.replans = 0

    def spent(self, elapsed: float) -> bool:
        return elapsed >= self.budget

    def seconds_per_step(self, step: int, elapsed: float) -> float | None:
        if self.t_measure is None or step <= self.t_measure[0]:
            return None
        s0, e0 = self.t_measure
        return (elapsed - e0) / (step - s0)

    def exclude(self, seconds: float) -> None:
        """``seconds`` just spent on a one-off (the rehearsed final checkpoint) do not count
        towards the per-step rate."""
        if self.t_measure is not None:
            self.t_measure = (self.t_measure[0], self.t_measure[1] + seconds)
        if self._prev is not None:
            self._prev = (self._prev[0], self._prev[1] + seconds)

    def replan(self, step: int, elapsed: float) -> int:
        """Plan again now (after ``reserve`` changed)."""
        rate = self.seconds_per_step(step, elapsed)
        if rate:
            self.total = max(step, plan_total(step, elapsed, self.budget, rate, self.reserve))
        return self.total

    def observe(self, step: int, elapsed: float, check: bool = False) -> int | None:
        """``check``: a log step, where the projection is compared with the budget."""
        if self._prev is not None:
            self.last_step_cost = max(0.0, elapsed - self._prev[1]) / max(1, step - self._prev[0])
        self._prev = (step, elapsed)
        done = step - self.start_step
        if done == WARMUP_STEPS:
            self.t_measure = (step, elapsed)
        if self.total is None:
            if done >= WARMUP_STEPS + MEASURE_STEPS:
                self.total = plan_total(step, elapsed, self.budget,
                                        self.seconds_per_step(step, elapsed), self.reserve)
            elif elapsed + self.last_step_cost + self.reserve > self.budget:
                self.total = step   # the budget ends before the measurement does
            return self.total
        if step >= self.total:
            return self.total
        rate = self.seconds_per_step(step, elapsed)
        if elapsed + (rate or self.last_step_cost) + self.reserve > self.budget:
            self.total = step   # out of time: this step is the last
        elif check and rate:
            projected = elapsed + (self.total - step) * rate + self.reserve
            if abs(projected - self.budget) > REPLAN_SHARE * self.budget:
                new = plan_total(step, elapsed, self.budget, rate, self.reserve)
                if new != self.total:
                    self.total = max(step, new)
                    self.replans += 1
        return self.total
