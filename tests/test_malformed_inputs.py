"""Malformed inputs for every command: one actionable ``Error:`` line and a non-zero exit (2 for
click usage errors), never a traceback. Valid-but-odd inputs (image modes, sizes, GIFs, messy
metadata.csv) must simply work."""

from __future__ import annotations

import errno
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from ldm_sprites.data.images import ImageDecodeError, load_rgba
from ldm_sprites.modeldir import list_checkpoints, load_model_dir
from tests.conftest import TINY_TRAIN
from tests.hardening import (BROKEN, assert_one_line_error, bomb_png, enospc, fake_autoencoder,
                             run, sprite, write_broken_images, write_odd_images)

TRAIN_1 = ["--steps", 1, "--checkpoint-every", 1, *TINY_TRAIN[:-2]]  # unconditional, 1 step
GEN = ["--num", 2, "--steps", 2]


@pytest.fixture(scope="module")
def broken_dir(tmp_path_factory):
    return write_broken_images(tmp_path_factory.mktemp("broken"))


@pytest.fixture(scope="module")
def odd_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    write_odd_images(folder)
    return folder


@pytest.fixture
def blocker(tmp_path):
    """A regular file: any output path below it cannot be created."""
    f = tmp_path / "blocker"
    f.write_text("x")
    return f


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    """A private copy of the tiny model's newest checkpoint, safe to damage."""
    dst = tmp_path / "model"
    shutil.copytree(load_model_dir(tiny_model).path, dst)
    return dst


# --- image decoding: one place for every broken file -------------------------------------------

@pytest.mark.parametrize("name, words", [("empty.png", "not an image"),
                                         ("text.png", "not an image"),
                                         ("truncated.png", "damaged"),
                                         ("bomb.png", "too large")])
def test_each_broken_file_names_itself_and_the_problem(broken_dir, name, words):
    with pytest.raises(ImageDecodeError, match=words) as info:
        load_rgba(broken_dir / name)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_bomb_below_pil_limit_is_refused_before_decoding(tmp_path):
    (tmp_path / "b.png").write_bytes(bomb_png(5000, 5000))  # 25 Mpx: under PIL's bomb limit
    with pytest.raises(ImageDecodeError, match="too large"):
        load_rgba(tmp_path / "b.png")


# --- train-diffusion / train-ae ------------------------------------------------------------------

@pytest.mark.parametrize("command", ["train-diffusion", "train-ae"])
def test_training_on_only_broken_images(command, broken_dir, tmp_path):
    res = run(command, "--data", broken_dir, "--out", tmp_path / "run", "--steps", 1)
    assert_one_line_error(res, f"{len(BROKEN)} of {len(BROKEN)} images could not be read")
    assert not list_checkpoints(tmp_path / "run")


def test_odd_modes_gif_and_mixed_sizes_train_and_a_few_broken_files_are_skipped(
        odd_dir, broken_dir, demo_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_dir / "images", data)          # 24 good sprites
    for f in odd_dir.iterdir():                          # + 9 odd but valid ones
        shutil.copy(f, data / f.name)
    shutil.copy(broken_dir / "bomb.png", data)          # + 2 broken: under the 10% limit
    shutil.copy(broken_dir / "truncated.png", data)
    res = run("train-diffusion", "--data", data, "--out", tmp_path / "run", *TRAIN_1)
    assert res.exit_code == 0, res.output
    assert "skipped 2 unreadable image(s)" in res.output
    assert "33 sprites" in res.output


def test_messy_metadata_csv(odd_dir, tmp_path):
    root = tmp_path / "meta"
    shutil.copytree(odd_dir, root / "images")
    rows = [b"file_name,type,extra",
            b"images/palette.png,fire,x,surplus,fields",   # more fields than columns
            b"images/grey.png,fire,1",
            b"images/la.png,\xe9t\xe9,1",                   # Windows-1252, not UTF-8
            b"images/big.png,,1",                           # empty label: skipped with a warning
            b"images/small.png,water",                      # fewer fields than columns
            b"images/anim.gif,water,1",
            b""]
    (root / "metadata.csv").write_bytes(b"\r\n".join(rows))
    res = run("train-diffusion", "--data", root, "--out", tmp_path / "run", *TRAIN_1,
              "--label-column", "type")
    assert res.exit_code == 0, res.output
    assert "skipped 1 rows of metadata.csv" in res.output
    assert load_model_dir(tmp_path / "run").classes == ["fire", "water", "été"]
    # a row naming a file that does not exist: too many bad files here, named in one line
    with open(root / "metadata.csv", "ab") as fh:
        fh.write(b"images/missing.png,fire,1\r\n")
    res = run("train-diffusion", "--data", root, "--out", tmp_path / "run2", *TRAIN_1,
              "--label-column", "type")
    assert_one_line_error(res, "missing.png", "not found")


@pytest.mark.parametrize("csv, words", [
    ("name,type\na.png,fire\n", "no 'file_name' column"),
    ("file_name,kind\na.png,fire\n", "no column 'type'"),
])
def test_metadata_csv_without_the_needed_columns(tmp_path, csv, words):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "metadata.csv").write_text(csv)
    res = run("train-diffusion", "--data", tmp_path / "d", "--out", tmp_path / "run", *TRAIN_1,
              "--label-column", "type")
    assert_one_line_error(res, words)


def test_a_class_with_one_image_trains_and_generates(demo_dir, tmp_path):
    data = tmp_path / "classes"
    (data / "many").mkdir(parents=True)
    (data / "single").mkdir()
    for f in sorted((demo_dir / "images").iterdir())[:8]:
        shutil.copy(f, data / "many" / f.name)
    shutil.copy(sorted((demo_dir / "images").iterdir())[-1], data / "single" / "only.png")
    res = run("train-diffusion", "--data", data, "--out", tmp_path / "run", *TRAIN_1)
    assert res.exit_code == 0, res.output
    assert run("classes", "--model", tmp_path / "run").output.split() == ["many", "single"]
    res = run("generate", "--model", tmp_path / "run", "--class", "single", *GEN,
              "--out-dir", tmp_path / "g")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("text, words", [
    (b"train: {steps: [1, 2\n", "not valid YAML"),
    (b"train: {steps: 3}\nmodel: \xff\xfe\n", "UTF-8"),
    (b"- just\n- a list\n", "mapping"),
    (b"!!python/object/apply:os.system ['touch pwned']\n", "not valid YAML"),
])
def test_malformed_config_files(demo_dir, tmp_path, text, words):
    cfg = tmp_path / "bad.yaml"
    cfg.write_bytes(text)
    res = run("train-diffusion", "--config", cfg, "--data", demo_dir, "--out", tmp_path / "run")
    assert_one_line_error(res, words)
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_ae_that_is_not_an_autoencoder_or_is_damaged(tiny_model, demo_dir, tmp_path):
    res = run("train-diffusion", "--data", demo_dir, "--out", tmp_path / "r1", "--ae", tiny_model,
              *TRAIN_1)
    assert_one_line_error(res, "not a 'autoencoder' model")
    ae = fake_autoencoder(tmp_path / "ae")
    (ae / "ema.safetensors").write_bytes((ae / "ema.safetensors").read_bytes()[:100])
    res = run("train-diffusion", "--data", demo_dir, "--out", tmp_path / "r2", "--ae", ae, *TRAIN_1)
    assert_one_line_error(res, "ema.safetensors is damaged")


def test_resume_from_a_damaged_checkpoint(tiny_model, demo_dir, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_model, run_dir)
    newest = list_checkpoints(run_dir)[-1]
    (newest / "model.safetensors").write_bytes(b"\x00" * 10)
    res = run("train-diffusion", "--data", demo_dir, "--out", run_dir, "--resume", *TINY_TRAIN)
    assert_one_line_error(res, "model.safetensors is damaged")


# --- generate / classes: damaged or mismatched model directories -------------------------------

@pytest.mark.parametrize("damage, words", [
    ("truncate-ema", "ema.safetensors is damaged"),
    ("remove-weights", "has no model.safetensors"),
    ("truncate-config", "config.json is unreadable"),
    ("remove-config", "is not a model directory"),
    ("garbage-classes", "classes.json is damaged"),
])
def test_damaged_model_directory(model_copy, tmp_path, damage, words):
    if damage == "truncate-ema":
        f = model_copy / "ema.safetensors"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "remove-weights":
        (model_copy / "ema.safetensors").unlink()
        (model_copy / "model.safetensors").unlink()
    elif damage == "truncate-config":
        f = model_copy / "config.json"
        f.write_text(f.read_text()[:40])
    elif damage == "remove-config":
        (model_copy / "config.json").unlink()
    else:
        (model_copy / "classes.json").write_bytes(b"\x89PNG\x00garbage")
    res = run("generate", "--model", model_copy, *GEN, "--out-dir", tmp_path / "g")
    assert_one_line_error(res, words)
    assert not any((tmp_path / "g").glob("*.png"))
    if damage in ("truncate-config", "remove-config", "garbage-classes"):
        assert_one_line_error(run("classes", "--model", model_copy), words)


def test_missing_model_directory(tmp_path):
    for command in (["generate", *GEN, "--out-dir", tmp_path / "g"], ["classes"]):
        res = run(*command[:1], "--model", tmp_path / "nope", *command[1:])
        assert_one_line_error(res, "does not exist")


def test_unknown_class_names(tiny_model, tmp_path):
    res = run("generate", "--model", tiny_model, "--class", "fire,lava", *GEN,
              "--out-dir", tmp_path / "g")
    assert_one_line_error(res, "unknown class 'lava'", "Valid classes: electric, fire")


def test_autoencoder_that_does_not_match_the_model(model_copy, tmp_path):
    ae1, ae2 = fake_autoencoder(tmp_path / "ae1", 1), fake_autoencoder(tmp_path / "ae2", 2)
    from ldm_sprites.modeldir import hash_model_dir

    cfg = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps(
        {**cfg, "ae": {"path": str(ae1), "hash": hash_model_dir(ae1)}}))
    out = ["--out-dir", tmp_path / "g", *GEN]
    assert_one_line_error(run("generate", "--model", model_copy, "--ae", ae2, *out),
                          "was trained with autoencoder", "pass --ae")
    # the right AE, but its latents are 4x4x4 while this DiT works on 4x16x16
    assert_one_line_error(run("generate", "--model", model_copy, *out), "latents but")
    shutil.rmtree(ae1)
    assert_one_line_error(run("generate", "--model", model_copy, *out), "does not exist")


def test_ae_for_a_pixel_model_is_refused(tiny_model, tmp_path):
    ae = fake_autoencoder(tmp_path / "ae")
    res = run("generate", "--model", tiny_model, "--ae", ae, *GEN, "--out-dir", tmp_path / "g")
    assert_one_line_error(res, "pixel-space model", "leave out --ae")


# --- export ---------------------------------------------------------------------------------------

def test_export_skips_broken_files_by_name_and_keeps_odd_ones(broken_dir, odd_dir, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(odd_dir, src)
    for f in broken_dir.iterdir():
        shutil.copy(f, src / f.name)
    res = run("export", src, "--out", tmp_path / "out", "--no-svg", "--no-stickers")
    assert res.exit_code == 0, res.output
    assert "Skipped 4 files that are not readable images: bomb.png, empty.png" in res.output
    assert "too large" in res.output
    assert len(list((tmp_path / "out" / "png").glob("*.png"))) == 9
    # 16-bit grey is scaled, not clipped to white
    grey16 = np.asarray(Image.open(tmp_path / "out" / "png" / "grey16.png"))
    grey8 = np.asarray(Image.open(tmp_path / "out" / "png" / "grey.png"))
    assert np.abs(grey16.astype(int) - grey8).max() <= 1


def test_export_of_only_broken_files(broken_dir, tmp_path):
    assert_one_line_error(run("export", broken_dir, "--out", tmp_path / "out"), "no sprites in")


def test_export_with_a_bomb_as_palette(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sprite().save(src / "a.png")
    (tmp_path / "pal.png").write_bytes(bomb_png())
    res = run("export", src, "--out", tmp_path / "out", "--palette", tmp_path / "pal.png")
    assert_one_line_error(res, "cannot read palette image", "too large")


# --- unwritable outputs and full disks, for every command that writes ---------------------------

def _commands(tiny_model, demo_dir, out):
    sprites = demo_dir / "images"
    return {
        "demo-data": ["demo-data", "--out", out, "--num-per-class", 1, "--size", 16],
        "train-diffusion": ["train-diffusion", "--data", demo_dir, "--out", out, *TRAIN_1],
        "train-ae": ["train-ae", "--data", demo_dir, "--out", out, "--steps", 1, "--size", 16],
        "generate": ["generate", "--model", tiny_model, *GEN, "--out-dir", out],
        "generate-grid": ["generate", "--model", tiny_model, *GEN, "--out", out / "grid.png"],
        "export": ["export", sprites, "--out", out, "--no-svg", "--no-stickers"],
    }


COMMANDS = ["demo-data", "train-diffusion", "train-ae", "generate", "generate-grid", "export"]


@pytest.mark.parametrize("command", COMMANDS)
def test_output_below_a_file(command, tiny_model, demo_dir, blocker):
    res = run(*_commands(tiny_model, demo_dir, blocker / "out")[command])
    assert_one_line_error(res, "cannot create directory")


@pytest.mark.parametrize("command", COMMANDS)
def test_output_is_an_existing_file_or_read_only(command, tiny_model, demo_dir, blocker, tmp_path,
                                                 monkeypatch):
    if command != "generate-grid":
        # click rejects a file where a folder is expected: a usage error, exit 2
        args = _commands(tiny_model, demo_dir, blocker)[command]
        assert_one_line_error(run(*args), "is a file", code=2)
    out = tmp_path / "ro"
    out.mkdir()
    real_access = os.access
    # chmod does not stop root, so simulate a read-only folder at the permission check
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK
                        and str(p).startswith(str(out)) else real_access(p, mode, **kw))
    res = run(*_commands(tiny_model, demo_dir, out)[command])
    assert_one_line_error(res, "permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_really_unwritable_output(tiny_model, tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        res = run("generate", "--model", tiny_model, *GEN, "--out-dir", out / "g")
        assert_one_line_error(res, "permission denied")
    finally:
        out.chmod(0o700)


@pytest.mark.parametrize("command", ["demo-data", "generate", "generate-grid", "export"])
def test_full_disk_keeps_earlier_outputs(command, tiny_model, demo_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = _commands(tiny_model, demo_dir, out)[command]
    assert run(*args).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # the disk fills up: every write of a file's bytes fails
    from pathlib import Path

    monkeypatch.setattr(Image.Image, "save", enospc)
    monkeypatch.setattr(Path, "write_bytes", enospc)
    monkeypatch.setattr(os, "replace", enospc)
    res = run(*args)
    assert_one_line_error(res, "no space left on device")
    monkeypatch.undo()
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    if command == "demo-data":  # metadata.csv only exists for a complete set, by design
        del before[out / "metadata.csv"]
    assert after == before  # nothing torn, nothing half-written left behind


def test_full_disk_in_the_data_cache_is_only_a_warning(demo_dir, tmp_path, monkeypatch):
    import ldm_sprites.data.mapped as mapped
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data

    monkeypatch.setattr(mapped, "create_safetensors", enospc)
    data = load_sprite_data(demo_dir, DataSpec(16), cache_dir=tmp_path / "cache")
    assert len(data) == 24 and data.cache_file is None
    assert not list((tmp_path / "cache").iterdir())


def test_os_errors_from_anywhere_are_one_line(tiny_model, tmp_path, monkeypatch):
    import ldm_sprites.diffusion.pipeline as pipeline

    def denied(*_a, **_k):
        raise PermissionError(errno.EACCES, "Permission denied", "/somewhere/file")

    monkeypatch.setattr(pipeline.DiffusionPipeline, "from_pretrained", denied)
    res = run("generate", "--model", tiny_model, *GEN, "--out-dir", tmp_path / "g")
    assert_one_line_error(res, "/somewhere/file", "permission denied")
    assert errno.EACCES  # the message is the same whichever command hit it


# --- animate, plot, report, eval --------------------------------------------------------------------

def _analysis_commands(data, model, out):
    return {
        "animate": ["animate", "forward", "--data", data, "--size", 16, "--num", 2, "--frames", 2,
                    "--out", out / "a.gif"],
        "plot": ["plot", "noise-stats", "--data", data, "--size", 16, "--out", out / "p.png"],
        "eval": ["eval", "--model", model, "--data", data, "--out", out / "e.json", "--num", 2,
                 "--steps", 2, "--kid-subset-size", 2, "--kid-subsets", 2],
        "report": ["report", model, "--out", out / "r", "--no-table"],
    }


ANALYSIS = ["animate", "plot", "eval", "report"]


@pytest.mark.parametrize("command", ["animate", "plot", "eval"])
def test_analysis_on_only_broken_images(command, broken_dir, tiny_model, tmp_path):
    data = tmp_path / "data"  # imagefolder layout: eval reads the model's label column
    shutil.copytree(broken_dir, data / "images")
    (data / "metadata.csv").write_text("file_name,type\n" + "".join(
        f"images/{name},fire\n" for name in BROKEN))
    res = run(*_analysis_commands(data, tiny_model, tmp_path)[command])
    assert_one_line_error(res, f"{len(BROKEN)} of {len(BROKEN)} images could not be read")


@pytest.mark.parametrize("command", ["eval", "report"])
def test_analysis_of_a_damaged_or_missing_model(command, tiny_model, demo_dir, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_model, run_dir)
    for ck in list_checkpoints(run_dir):
        (ck / "ema.safetensors").write_bytes(b"\x00" * 10)
    args = _analysis_commands(demo_dir, run_dir, tmp_path)[command]
    if command == "report":
        args = [*args[:-1], "--table"]  # the table is what loads checkpoints
    assert_one_line_error(run(*args), "ema.safetensors is damaged")
    args = _analysis_commands(demo_dir, tmp_path / "nope", tmp_path)[command]
    assert_one_line_error(run(*args), "does not exist" if command == "eval" else "not found")


@pytest.mark.parametrize("command", ANALYSIS)
def test_analysis_output_below_a_file(command, tiny_model, demo_dir, blocker):
    res = run(*_analysis_commands(demo_dir, tiny_model, blocker / "out")[command])
    assert_one_line_error(res, "cannot create directory")


@pytest.mark.parametrize("command", ["animate", "plot", "report"])  # eval: same save_png path
def test_analysis_on_a_full_disk(command, tiny_model, demo_dir, tmp_path, monkeypatch):
    from pathlib import Path

    import matplotlib.figure

    monkeypatch.setattr(Image.Image, "save", enospc)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", enospc)
    monkeypatch.setattr(Path, "write_bytes", enospc)
    monkeypatch.setattr(os, "replace", enospc)
    res = run(*_analysis_commands(demo_dir, tiny_model, tmp_path / "out")[command])
    assert_one_line_error(res, "no space left on device")
