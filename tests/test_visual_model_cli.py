"""Everything that needs a trained model: reverse GIF, report, eval — on one nano model trained
for a few steps through the CLI (once per module)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.demo_art import write_demo_set


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("vis")
    data, run_dir, cache = base / "data", base / "run", base / "cache"
    write_demo_set(data, n_per_class=4, size=16)
    res = CliRunner().invoke(cli, ["train-diffusion", "--data", str(data), "--out", str(run_dir),
                                   "--preset", "nano", "--size", "16", "--steps", "4",
                                   "--batch-size", "8", "--sample-every", "0",
                                   "--checkpoint-every", "2", "--label-column", "type",
                                   "--cache-dir", str(cache)])
    assert res.exit_code == 0, res.output
    return {"data": data, "run": run_dir, "cache": cache}


@pytest.mark.parametrize("steps,every,frames", [(5, 1, 5), (5, 2, 3), (6, 2, 4)])
def test_reverse_recorder_one_frame_per_saved_step(run, tmp_path, steps, every, frames):
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.visual.reverse import ReverseRecorder

    pipe = DiffusionPipeline.from_pretrained(run["run"], device="cpu")
    rec = ReverseRecorder(pipe, max_sprites=3, every=every,
                          timesteps=pipe.schedule.spaced_timesteps(steps))
    x = pipe.sample([0, 1, 2, 3], sampler="ddim", steps=steps, callback=rec)
    gif, strip = rec.save(tmp_path / "r.gif")
    assert Image.open(gif).n_frames == frames
    assert strip.name == "r-strip.png"
    assert rec.steps[-1] == steps - 1  # the animation ends on the finished sprites
    assert (rec.x0[-1] == pipe.to_rgba(x[:3])).all()


def test_generate_gif_and_determinism(run, tmp_path):
    outs = []
    for name in ("a", "b"):
        gif = tmp_path / name / "reverse.gif"
        res = CliRunner().invoke(cli, ["generate", "--model", str(run["run"]), "--class", "fire",
                                       "--num", "3", "--steps", "4", "--sampler", "ddpm",
                                       "--gif", str(gif), "--device", "cpu"])
        assert res.exit_code == 0, res.output
        outs.append(gif.read_bytes())
    assert outs[0] == outs[1]
    assert Image.open(tmp_path / "a" / "reverse.gif").n_frames == 4
    assert (tmp_path / "a" / "reverse-strip.png").is_file()


def test_report_loss_curve_buckets_and_table(run, tmp_path):
    out = tmp_path / "report"
    res = CliRunner().invoke(cli, ["report", str(run["run"]), "--out", str(out), "--buckets",
                                   "--t", "999,500,0", "--steps", "3", "--class", "fire,ice",
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "report.json").read_text())
    assert summary["checkpoints"] == ["step-00000002", "step-00000004"]
    assert summary["table"]["classes"] == ["fire", "ice"]
    assert len(summary["table"]["t"]) == 3
    assert set(summary["loss"]["loss_by_t_bucket"]) and summary["loss"]["steps"] == 4
    assert Image.open(out / "loss.png").size[1] > 400  # two panels
    assert Image.open(out / "timesteps.png").size[0] > 100


def test_report_without_run_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path), "--no-table"])
    assert res.exit_code == 1 and "log.jsonl not found" in res.output


def test_eval_end_to_end(run, tmp_path):
    out = tmp_path / "eval.json"
    args = ["eval", "--model", str(run["run"]), "--data", str(run["data"]), "--num", "12",
            "--out", str(out), "--steps", "2", "--kid-subsets", "5", "--device", "cpu",
            "--cache-dir", str(run["cache"])]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    first = out.read_bytes()
    r = json.loads(first)
    assert r["features"] == "efficientnet" and r["num_generated"] == 12 and r["num_real"] == 24
    assert r["fd"] > 0 and r["kid_subset_size"] == 12
    assert r["fd_ci95"][0] <= r["fd"] <= r["fd_ci95"][1] and r["fd_bootstrap_resamples"] == 50
    assert r["fd_real_halves_ci95"][0] <= r["fd_real_halves"] <= r["fd_real_halves_ci95"][1]
    assert set(r["cleanliness"]) == {"generated", "real"}
    assert r["cleanliness"]["real"]["soft_alpha"]["median"] == 0  # demo sprites: hard alpha
    assert "vs real-vs-real floor" in res.output and "visible colours" in res.output
    assert f"KID {r['kid_mean']:.5f} ± " in res.output  # 12 of 24 real: the subsets differ
    assert sum(c["generated"] for c in r["per_class"].values()) == 12
    # the demo set's classes are colour-coded: its own sprites' nearest neighbours agree often
    assert 0.5 < r["real_feature_nn_same_class_share"] <= 1
    assert 0 <= r["feature_nn_same_class_share"] <= 1 and "nearest real sprite of the class" in res.output
    assert r["memorization"]["variant_threshold"] >= r["memorization"]["threshold"]
    assert all(c["generated"] == 2 for c in r["per_class"].values())  # balanced like the data
    assert 0 <= r["memorization"]["copy_share"] <= 1
    assert (tmp_path / "eval-neighbours.png").is_file()
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert out.read_bytes() == first


def test_kid_text_shows_a_spread_only_when_subsets_can_differ():
    from ldm_sprites.cli.eval_cmd import kid_text

    r = {"kid_mean": 0.2, "kid_std": 0.0, "kid_subset_size": 493, "num_generated": 493,
         "num_real": 493}
    assert kid_text(r) == "KID 0.20000 (whole sets: no subset spread)"
    assert kid_text({**r, "kid_std": 0.01, "kid_subset_size": 192,
                     "num_generated": 192}) == "KID 0.20000 ± 0.01000"
