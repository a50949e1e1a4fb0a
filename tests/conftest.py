"""Shared fixtures: a tiny procedural demo set and a tiny trained pixel model, made once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Keep decoded-data caches out of the user's home directory during tests.
os.environ.setdefault("LDMSPRITES_CACHE", tempfile.mkdtemp(prefix="ldmsprites-test-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_TRAIN = ["--preset", "nano", "--size", "16", "--batch-size", "8", "--sample-every", "0",
              "--label-column", "type"]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from ldm_sprites.demo_art import write_demo_set

    return write_demo_set(tmp_path_factory.mktemp("demo"), n_per_class=4, size=16, seed=0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, demo_dir) -> Path:
    """A nano pixel-space DiT trained for a few steps through the CLI."""
    from click.testing import CliRunner

    from ldm_sprites.cli import cli

    run = tmp_path_factory.mktemp("runs") / "px"
    res = CliRunner().invoke(cli, ["train-diffusion", "--data", str(demo_dir), "--out", str(run),
                                   "--steps", "6", "--checkpoint-every", "3", *TINY_TRAIN])
    assert res.exit_code == 0, res.output
    return run
