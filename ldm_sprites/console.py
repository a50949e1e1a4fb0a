"""Messages for people: one place that decides where info and warnings go (stderr, tqdm-safe)."""

from __future__ import annotations

import os
import sys

# LDMSPRITES_QUIET=1 silences info and progress bars (benchmarks, scripts); warnings still show.
# Under ``accelerate launch`` / torchrun only the main process (RANK 0) prints info and bars.
QUIET = os.environ.get("LDMSPRITES_QUIET") == "1" or os.environ.get("RANK", "0") not in ("", "0")


def info(msg: str) -> None:
    if not QUIET:
        _write(msg)


def warn(msg: str) -> None:
    _write(f"Warning: {msg}")


def _write(msg: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)
    except Exception:  # noqa: BLE001 - printing must never fail the run
        print(msg, file=sys.stderr)


def progress(iterable=None, **kwargs):
    """tqdm to stderr; silenced when QUIET or when explicitly disabled."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", QUIET or None)  # None: off when stderr is not a terminal
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("file", sys.stderr)
    return tqdm(iterable, **kwargs)
