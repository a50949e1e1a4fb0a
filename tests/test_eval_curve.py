"""``ldmsprites eval --curve`` / ``--denoiser``: how well a run learned, checkpoint by checkpoint,
from the installed command (the logic in ``evaluation/curve.py`` and ``evaluation/denoiser.py``)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.hardening import assert_one_line_error
from ldm_sprites.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["eval", *map(str, args)])


def test_curve_scores_every_checkpoint_writes_json_png_and_a_table(tmp_path, tiny_model,
                                                                   demo_dir):
    from ldm_sprites.evaluation.curve import train_seconds

    out = tmp_path / "curve.json"
    res = run("--curve", tiny_model, "--data", demo_dir, "--out", out, "--num", 6,
              "--bootstrap", 0, "--threads", 2)
    assert res.exit_code == 0, res.output
    results = json.loads(out.read_text())
    rows = results["runs"][str(tiny_model)]
    ckpts = sorted((tiny_model / "checkpoints").glob("step-*"))
    assert [r["step"] for r in rows] == [3, 6] == [int(c.name[5:]) for c in ckpts]
    assert rows[-1]["cpu_minutes"] == pytest.approx(2 * train_seconds(ckpts[-1]) / 60)
    assert rows[-1]["cpu_minutes"] > rows[0]["cpu_minutes"] > 0
    for r in rows:
        for kind in ("raw", "finished"):
            assert math.isfinite(r[kind]["fd"]) and r[kind]["fd"] > 0
        assert 0 <= r["raw"]["class_agreement"] <= 1
    assert math.isfinite(results["fd_real_halves"]) and results["threads"] == 2
    png = tmp_path / "curve.png"
    with Image.open(png) as im:
        im.verify()
        assert im.format == "PNG" and im.size[0] > 300
    table = [line for line in res.output.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| run | step | CPU min | FD raw")
    assert len(table) == 1 + len(rows) and f"| {tiny_model} | 6 |" in table[-1]


def test_denoiser_gives_one_rmse_per_t_per_checkpoint(tmp_path, tiny_model, demo_dir):
    out = tmp_path / "den.json"
    res = run("--denoiser", tiny_model, "--data", demo_dir, "--out", out, "--num", 8,
              "--t", "50,950")
    assert res.exit_code == 0, res.output
    results = json.loads(out.read_text())
    rows = results["runs"][str(tiny_model)]
    assert [r["step"] for r in rows] == [3, 6] and results["timesteps"] == [50, 950]
    for r in rows:
        assert set(r["rmse"]) == {"50", "950"}
        assert 0 < r["rmse"]["50"] < r["rmse"]["950"]
    assert "| run | step | t = 50 | t = 950 |" in res.output
    # --every 2 keeps every second checkpoint and always the newest: here only step 6
    res = run("--denoiser", tiny_model, "--data", demo_dir, "--out", out, "--num", 8,
              "--t", "50", "--every", "2")
    assert res.exit_code == 0, res.output
    assert [r["step"] for r in json.loads(out.read_text())["runs"][str(tiny_model)]] == [6]


def test_curve_with_a_guide_samples_differently_and_needs_one_for_autoguidance(tmp_path,
                                                                               tiny_model, demo_dir):
    """--guide DIR (an early checkpoint) with --autoguidance changes what the checkpoints draw;
    --autoguidance on checkpoints that carry no guide is the CLI's one-line error."""
    early = sorted((tiny_model / "checkpoints").glob("step-*"))[0]
    common = ["--curve", tiny_model, "--data", demo_dir, "--num", 6, "--every", 2,
              "--guidance", 1, "--bootstrap", 0]
    fds = []
    for extra in ([], ["--guide", early, "--autoguidance", 3]):
        out = tmp_path / f"q{len(extra)}.json"
        res = run(*common, *extra, "--out", out)
        assert res.exit_code == 0, res.output
        fds.append(json.loads(out.read_text())["runs"][str(tiny_model)][0]["raw"]["fd"])
    assert fds[0] != fds[1]
    assert_one_line_error(run(*common, "--autoguidance", 3, "--out", tmp_path / "x.json"),
                          "needs a model with a guide")


def test_denoiser_errors_are_reproducible_and_a_checkpoint_scores_alone(tmp_path, tiny_model,
                                                                       demo_dir):
    """Fixed sprites and noise: the same numbers on a second run, and one checkpoint folder
    scored alone gives its row of the whole run."""
    from ldm_sprites.evaluation.denoiser import evenly_spaced

    assert evenly_spaced(493, 96) == list(range(0, 480, 5))
    assert evenly_spaced(10, 96) == list(range(10))

    def rows(model, out):
        res = run("--denoiser", model, "--data", demo_dir, "--out", out, "--num", 8,
                  "--t", "50,500,950")
        assert res.exit_code == 0, res.output
        return json.loads(out.read_text())["runs"][str(model)]

    whole = rows(tiny_model, tmp_path / "a.json")
    for r in whole:
        e = [r["rmse"][t] for t in ("50", "500", "950")]
        assert 0 < e[0] < e[1] < e[2]
    assert rows(tiny_model, tmp_path / "b.json") == whole
    last = sorted((tiny_model / "checkpoints").glob("step-*"))[-1]
    assert rows(last, tmp_path / "c.json")[0]["rmse"] == whole[-1]["rmse"]


@pytest.mark.parametrize("args, needle", [
    (["--curve", "{missing}"], "does not exist"),
    (["--denoiser", "{missing}"], "does not exist"),
    (["--curve", "{demo}"], "neither a training run"),
    (["--model", "{run}", "--curve", "{run}"], "--model and --curve"),
    ([], "eval needs what to score"),
    (["--curve", "{run}", "--kid-subsets", "5"], "--kid-subsets does not apply to eval --curve"),
    (["--denoiser", "{run}", "--guidance", "2"], "--guidance does not apply to eval --denoiser"),
    (["--model", "{run}", "--every", "2"], "--every does not apply to eval --model"),
    (["--denoiser", "{run}", "--t", "50,x"], "whole numbers"),
    (["--denoiser", "{run}", "--t", "5000"], "timesteps lie in 0..999"),
])
def test_wrong_runs_and_combinations_are_one_line_errors(tmp_path, tiny_model, demo_dir, args,
                                                         needle):
    paths = {"missing": tmp_path / "no-such-run", "demo": demo_dir, "run": tiny_model}
    args = [a.format(**paths) for a in args]
    res = run(*args, "--data", demo_dir, "--out", tmp_path / "o.json", "--num", 4)
    assert_one_line_error(res, needle)
    assert not (tmp_path / "o.json").exists()
