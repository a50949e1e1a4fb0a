"""The studio's work queue: one worker thread runs requests in order, so browser tabs share
one loaded model and one CPU budget, and every tab still gets its own result.

A ``Job`` is what a tab polls: its state, sampler progress (``done`` of ``total`` steps), a
one-line message and, when done, a JSON-able result. ``cancel()`` sets the flag the sampler
callback checks at its next step (``actions.CancelFlag``); a queued job is dropped before it starts.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from ldm_sprites.errors import UserError
from ldm_sprites.studio import actions

MAX_KEPT = 256          # finished jobs remembered for polling (oldest forgotten first)


def one_line(exc: BaseException) -> str:
    """The message a page shows for an exception: one line, never a traceback."""
    if isinstance(exc, actions.Cancelled):
        return "Cancelled."
    if isinstance(exc, UserError):
        return f"Error: {exc.format_message()}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"Error: {type(exc).__name__}: {text}"


@dataclass
class Job:
    id: str
    kind: str
    run: Callable                      # run(job) -> dict (the result), may raise
    state: str = "queued"              # queued | running | done | error | cancelled
    done: int = 0
    total: int | None = None
    message: str = ""
    result: dict | None = None
    flag: actions.CancelFlag = field(default_factory=actions.CancelFlag)

    def progress(self, done: int, total: int | None) -> None:
        self.done, self.total = int(done), total

    def cancel(self) -> None:
        self.flag.cancel()

    def as_dict(self, position: int | None = None) -> dict:
        out = {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done,
               "total": self.total, "message": self.message}
        if position is not None:
            out["ahead"] = position
        if self.result is not None:
            out["result"] = self.result
        return out


class JobQueue:
    """FIFO of jobs run one at a time by a daemon worker thread."""

    def __init__(self):
        self._ids = itertools.count(1)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._pending: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._loop, name="studio-worker", daemon=True)
        self._worker.start()

    def submit(self, kind: str, run: Callable) -> Job:
        with self._lock:
            job = Job(f"j{next(self._ids)}", kind, run)
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_KEPT:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._pending.put(job)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise UserError(f"no request '{job_id}' (the studio was restarted?): press the "
                            "button again")
        return job

    def ahead_of(self, job: Job) -> int:
        """How many jobs run before ``job`` starts (0 once it runs)."""
        if job.state != "queued":
            return 0
        with self._lock:
            ids = [j for j in self._jobs.values() if j.state in ("queued", "running")]
        return next((i for i, j in enumerate(ids) if j is job), 0)

    def _loop(self) -> None:
        while True:
            job = self._pending.get()
            if job.flag.event.is_set():
                job.state, job.message = "cancelled", "Cancelled."
                continue
            job.state = "running"
            try:
                job.result = job.run(job)
                job.message = job.result.get("message", "Done.")
                job.state = "done"
            except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
                job.message = one_line(exc)
                job.state = "cancelled" if isinstance(exc, actions.Cancelled) else "error"
                print(f"studio: {job.message}", file=sys.stderr, flush=True)
