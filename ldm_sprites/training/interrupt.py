"""Ctrl-C or SIGTERM during training: finish the step, write a checkpoint, then stop.

SIGTERM is what ``kill``, ``timeout``, systemd, Docker and batch schedulers send before they
kill for good; treating it like Ctrl-C means a stopped run loses no steps, not up to
``checkpoint_every`` of them.
"""

from __future__ import annotations

import signal

from ldm_sprites.console import warn

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SigintFlag:
    """The first Ctrl-C / SIGTERM sets a flag; the loop finishes its step, checkpoints, then
    stops. A second one stops at once. ``signum`` is the signal that set the flag."""

    def __init__(self):
        self.hit = False
        self.signum: int | None = None
        self.prev: dict[int, object] = {}

    def __enter__(self):
        for sig in SIGNALS:
            try:
                self.prev[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                break
        return self

    def _handler(self, signum, frame):
        if self.hit:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.hit, self.signum = True, signum
        what = "interrupt" if signum == signal.SIGINT else signal.Signals(signum).name
        warn(f"{what} received: finishing this step and writing a checkpoint (Ctrl-C again to "
             "abort)")

    def __exit__(self, *exc):
        for sig, prev in self.prev.items():
            signal.signal(sig, prev)
        self.prev = {}
        return False
