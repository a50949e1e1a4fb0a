"""Shared fixtures: a tiny procedural demo set and a tiny trained pixel model, made once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Keep decoded-data caches out of the user's home directory during tests.
os.environ.setdefault("LDMSPRITES_CACHE", tempfile.mkdtemp(prefix="ldmsprites-test-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_TRAIN = ["--preset", "nano", "--size", "16", "--batch-size", "8", "--sample-every", "0",
              "--label-column", "type"]


def train_then_resume(config_text: str, demo_dir: Path, tmp_path: Path) -> Path:
    """Train a nano pixel model with this YAML for 2 steps, then resume it to 4 through the CLI
    (the round trip every new training option must survive); returns the run directory."""
    from click.testing import CliRunner

    from ldm_sprites.cli import cli

    cfg = tmp_path / "option.yaml"
    cfg.write_text(config_text)
    run = tmp_path / "run"
    args = ["train-diffusion", "--config", str(cfg), "--data", str(demo_dir), "--out", str(run),
            "--checkpoint-every", "2", *TINY_TRAIN]
    for more in (["--steps", "2"], ["--steps", "4", "--resume"]):
        res = CliRunner().invoke(cli, [*args, *more])
        assert res.exit_code == 0, res.output
    return run


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


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless chromium driven by Playwright, for the studio and engine tests (one per module,
    closed before the next module's tests run); skipped, with the reason, where Playwright or a working chromium binary is missing (nothing downloads)."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="browser test: playwright not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("browser test: no chromium binary (apt-get install chromium)")
    pw = sync_api.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=exe, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    except Exception as exc:  # noqa: BLE001 - no usable browser: say why and skip
        pw.stop()
        pytest.skip(f"browser test: chromium at {exe} does not start "
                    f"({str(exc).strip().splitlines()[0]})")
    yield b
    b.close()
    pw.stop()
