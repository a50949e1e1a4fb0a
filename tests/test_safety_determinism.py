"""Safe loading (a shared model directory cannot run code), byte-identical outputs for the same
seed on CPU, concurrent generate runs, and how unexpected errors are shown."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ldm_sprites.diffusion.pipeline import has_cxx_compiler
from ldm_sprites.modeldir import list_checkpoints
from tests.conftest import TINY_TRAIN
from tests.hardening import assert_one_line_error, run

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ldm_sprites"
GEN = ["--num", 4, "--steps", 3]


# --- safe loading ---------------------------------------------------------------------------------

def _package_sources():
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def test_weights_and_configs_are_only_loaded_safely():
    unsafe = []
    for path, text in _package_sources():
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("#")[0]
            where = f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            if "torch.load(" in code and "weights_only=True" not in code:
                unsafe.append(where)
            if re.search(r"\byaml\.(load|unsafe_load|full_load|load_all)\(", code):
                unsafe.append(where)
            if re.search(r"\b(pickle|dill|cloudpickle|marshal)\.loads?\(|allow_pickle\s*=\s*True"
                         r"|trust_remote_code\s*=\s*True|(?<![.\w])(eval|exec)\(", code):
                unsafe.append(where)
    assert not unsafe, "unsafe loading:\n" + "\n".join(unsafe)


class _Evil:
    """Unpickling this creates a file: what a malicious train_state.pt would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_train_state_is_refused_and_never_runs(tiny_model, demo_dir, tmp_path):
    shared = tmp_path / "shared-run"
    shutil.copytree(tiny_model, shared)
    marker = tmp_path / "pwned"
    newest = list_checkpoints(shared)[-1]
    state = torch.load(newest / "train_state.pt", weights_only=True)
    torch.save({**state, "payload": _Evil(marker)}, newest / "train_state.pt")
    assert not marker.exists()
    resume = ["train-diffusion", "--data", demo_dir, "--out", shared, "--resume", *TINY_TRAIN]
    # The checkpoint records the train state's hash: the changed file is refused unread ...
    assert_one_line_error(run(*resume), "train_state.pt", "damaged or was changed")
    # ... and one whose config was rewritten to match is still loaded without running code.
    cfg = json.loads((newest / "config.json").read_text())
    cfg["files"]["train_state.pt"] = hashlib.sha256(
        (newest / "train_state.pt").read_bytes()).hexdigest()
    (newest / "config.json").write_text(json.dumps(cfg))
    assert_one_line_error(run(*resume), "train_state.pt", "refused", "could run code")
    assert not marker.exists()
    # sampling and listing classes never read the train state: the shared model still works
    res = run("generate", "--model", shared, *GEN, "--out-dir", tmp_path / "g")
    assert res.exit_code == 0, res.output
    assert run("classes", "--model", shared).exit_code == 0
    assert not marker.exists()


def test_yaml_tags_cannot_construct_objects(tmp_path):
    from ldm_sprites.config_loader import load_yaml
    from ldm_sprites.errors import UserError

    cfg = tmp_path / "evil.yaml"
    cfg.write_text(f"train: !!python/object/apply:builtins.open ['{tmp_path / 'pwned'}', 'w']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_yaml(cfg)
    assert not (tmp_path / "pwned").exists()


# --- determinism ----------------------------------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _twice(args, out: Path) -> tuple[dict, dict]:
    """Run the same command twice into the same (emptied) folder; both snapshots."""
    snaps = []
    for _ in range(2):
        shutil.rmtree(out, ignore_errors=True)
        res = run(*args)
        assert res.exit_code == 0, res.output
        snaps.append(_snapshot(out))
    return snaps[0], snaps[1]


def test_generate_with_export_is_byte_identical(tiny_model, tmp_path):
    out = tmp_path / "out"
    args = ["generate", "--model", tiny_model, *GEN, "--seed", 7, "--out", out / "grid.png",
            "--out-dir", out / "sprites", "--export", out / "export"]
    first, second = _twice(args, out)
    kinds = {Path(name).suffix for name in first}
    assert {".png", ".svg", ".json", ".gif"} <= kinds, kinds
    assert first.keys() == second.keys()
    assert [n for n in first if first[n] != second[n]] == []
    # and a different seed really gives other sprites
    res = run("generate", "--model", tiny_model, *GEN, "--seed", 8, "--out-dir", tmp_path / "s8")
    assert res.exit_code == 0
    assert (tmp_path / "s8" / "fire-001.png").read_bytes() != first["sprites/fire-001.png"] or \
        (tmp_path / "s8" / "electric-000.png").read_bytes() != first["sprites/electric-000.png"]


def test_demo_data_and_export_are_byte_identical(tmp_path):
    first, second = _twice(["demo-data", "--out", tmp_path / "demo", "--num-per-class", 1,
                            "--size", 16, "--seed", 3], tmp_path / "demo")
    assert first == second and "metadata.csv" in first
    first, second = _twice(["export", tmp_path / "demo" / "images", "--out", tmp_path / "ex"],
                           tmp_path / "ex")
    assert first == second and "manifest.json" in first and any(n.endswith(".svg") for n in first)


# --- concurrency ----------------------------------------------------------------------------------

def test_two_generate_processes_at_once(tiny_model, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "ldm_sprites", "generate", "--model",
                               str(tiny_model), *map(str, GEN), "--seed", "5", "--out-dir",
                               str(tmp_path / f"g{i}")], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for i in (0, 1)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    a, b = _snapshot(tmp_path / "g0"), _snapshot(tmp_path / "g1")
    assert len([n for n in a if n.endswith(".png")]) == 4
    assert a == b  # same seed, no interference: the very same bytes
    assert json.loads(a["sprites.json"])["sprites"][0]["seed"] == 5
    assert not [n for n in os.listdir(tmp_path / "g0") if n.endswith(".tmp")]


# --- how errors are shown -------------------------------------------------------------------------

def _raise(exc):
    def f(*_a, **_k):
        raise exc
    return f


def test_unexpected_error_is_one_line_unless_verbose(tiny_model, tmp_path, monkeypatch):
    from ldm_sprites.diffusion import pipeline

    monkeypatch.setattr(pipeline.DiffusionPipeline, "from_pretrained",
                        _raise(RuntimeError("kaboom in the sampler\nsecond line")))
    args = ["generate", "--model", tiny_model, *GEN, "--out-dir", tmp_path / "g"]
    line = assert_one_line_error(run(*args), "RuntimeError: kaboom in the sampler", "--verbose")
    assert "second line" not in line
    res = run(*args, verbose=True)
    assert res.exit_code == 1 and isinstance(res.exception, RuntimeError)  # traceback shown


def test_ctrl_c_outside_training_exits_130(tiny_model, tmp_path, monkeypatch):
    from ldm_sprites.diffusion import pipeline

    monkeypatch.setattr(pipeline.DiffusionPipeline, "from_pretrained", _raise(KeyboardInterrupt()))
    res = run("generate", "--model", tiny_model, *GEN, "--out-dir", tmp_path / "g")
    assert_one_line_error(res, "interrupted", code=130)


def test_a_command_that_cannot_be_imported_does_not_break_the_others(monkeypatch):
    from ldm_sprites import cli

    monkeypatch.setitem(cli.COMMANDS, "broken", "ldm_sprites.cli.no_such_module:cmd")
    res = run("--help")
    assert res.exit_code == 0 and "broken" in res.output and "generate" in res.output
    assert_one_line_error(run("broken", "--any", "args"), "'broken' is unavailable",
                          "no_such_module")
    res = run("broken", verbose=True)
    assert isinstance(res.exception, ImportError)


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    import os
    import stat

    from ldm_sprites.fsutil import atomic_write_text

    mask = os.umask(0o022)
    os.umask(mask)
    p = atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


@pytest.mark.skipif(not has_cxx_compiler(),
                    reason="torch.compile on CPU needs a C++ compiler; none on PATH")
def test_generate_compile_draws_the_same_sprites(tiny_model, tmp_path, monkeypatch):
    # --compile is a speed option only: the same seed must give the same sprites.
    import numpy as np
    from PIL import Image

    compiled, real_compile = [], torch.compile

    def spy(model, *args, **kwargs):
        compiled.append(type(model).__name__)
        return real_compile(model, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", spy)

    base = ["generate", "--model", tiny_model, "--class", "fire", "--num", 2, "--steps", 3,
            "--seed", 3, "--finish", "none"]
    assert run(*base, "--out-dir", tmp_path / "eager").exit_code == 0
    assert compiled == []
    res = run(*base, "--compile", "--out-dir", tmp_path / "compiled")
    assert res.exit_code == 0, res.output
    assert compiled == ["DiT"]
    names = sorted(p.name for p in (tmp_path / "eager").glob("*.png"))
    assert names and names == sorted(p.name for p in (tmp_path / "compiled").glob("*.png"))
    for name in names:
        a = np.asarray(Image.open(tmp_path / "eager" / name), dtype=int)
        b = np.asarray(Image.open(tmp_path / "compiled" / name), dtype=int)
        assert np.abs(a - b).max() <= 2 and (a == b).mean() > 0.99, name


def test_generate_compile_without_a_compiler_is_a_one_line_error(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    res = run("generate", "--model", tiny_model, "--num", 1, "--steps", 2, "--compile",
              "--out-dir", tmp_path / "out")
    assert_one_line_error(res, "C++ compiler", "leave out --compile")
    assert not list((tmp_path / "out").glob("*.png"))
