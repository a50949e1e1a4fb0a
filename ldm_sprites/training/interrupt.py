"""Ctrl-C during training: finish the step, write a checkpoint, then stop."""

from __future__ import annotations

import signal

from ldm_sprites.console import warn


class SigintFlag:
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
