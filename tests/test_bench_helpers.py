"""The arithmetic behind benchmark claims: time-to-loss interpolation and a fixed held-out set."""

from __future__ import annotations

import pytest
import torch

from benchmarks.bench_convergence import HeldOut, time_to_reach, train_for
from ldm_sprites.diffusion.dit import build_dit
from ldm_sprites.diffusion.schedule import NoiseSchedule


def test_time_to_reach_interpolates_between_evaluations():
    curve = [(0.0, 0, 1.0), (10.0, 25, 0.6), (20.0, 50, 0.4)]
    assert time_to_reach(curve, 0.6) == 10.0
    assert abs(time_to_reach(curve, 0.5) - 15.0) < 1e-9
    assert time_to_reach(curve, 1.0) == 0.0
    assert time_to_reach(curve, 0.3) is None


def test_held_out_loss_is_fixed_and_training_lowers_it():
    torch.manual_seed(0)
    x = torch.rand(12, 4, 8, 8) * 2 - 1
    y = torch.arange(12) % 3
    schedule = NoiseSchedule()
    held = HeldOut(x, y, schedule)
    assert torch.equal(held.t, HeldOut(x, y, schedule).t)  # same (t, noise) for every model
    assert torch.equal(held.noise, HeldOut(x, y, schedule).noise)
    model = build_dit("nano", input_size=8, in_channels=4, patch_size=2, num_classes=3,
                      class_dropout=0.0)
    assert held.loss(model) == held.loss(model)
    run = train_for(model, x, y, held, schedule, 3, seconds=0.5, batch=12, lr=3e-3, eval_every=10)
    losses = [l for _, _, l in run["curve"]]
    assert run["img_per_s"] > 0 and len(losses) >= 2
    assert min(losses[1:]) < losses[0]


def test_eps_training_step_is_seeded_and_updates_the_model():
    from benchmarks.common import eps_training_step

    schedule = NoiseSchedule()
    x0 = torch.rand(4, 4, 8, 8) * 2 - 1
    y = torch.tensor([0, 1, 2, 0])

    def one_step():
        torch.manual_seed(0)
        model = build_dit("nano", input_size=8, in_channels=4, patch_size=2, num_classes=3)
        before = [p.detach().clone() for p in model.parameters()]
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss = eps_training_step(model, opt, schedule, x0, y, torch.Generator().manual_seed(5))
        assert all(p.grad is None for p in model.parameters())      # zeroed for the next step
        changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
        return loss, changed, [p.detach() for p in model.parameters()]

    (l1, changed, w1), (l2, _, w2) = one_step(), one_step()
    assert changed and torch.isfinite(l1) and l1 == l2
    assert all(torch.equal(a, b) for a, b in zip(w1, w2))


def test_bench_ae_reports_a_run_and_one_of_its_checkpoints(tmp_path, demo_dir):
    """bench_ae --report takes a run or RUN/checkpoints/step-N; both re-evaluate the held-out split
    from the saved weights and read the run's log only up to the evaluated step."""
    from benchmarks.bench_ae import evaluate_run
    from test_autoencoder import train_nano_ae

    run = train_nano_ae(tmp_path, demo_dir, "vq")
    whole = evaluate_run(str(run))
    early = evaluate_run(str(run / "checkpoints" / "step-00000003"))
    assert (whole["steps"], early["steps"]) == (6, 3)
    for row in (whole, early):
        assert row["quantizer"] == "vq" and 0 < row["alpha_iou"] <= 1
        assert row["psnr"] > 0 and row["train_img_per_s"] > 0
        assert row["codebook_size"] == 32 and 0 < row["train_code_usage"] <= 1
    assert whole["psnr"] != early["psnr"]


def test_bench_quality_scores_every_checkpoint_of_a_run(tmp_path, tiny_model, demo_dir):
    """bench_quality: one row per checkpoint (step order, CPU minutes from the saved training
    time), FD and cleanliness for raw and finished samples, a table, JSON and a PNG."""
    import json

    from benchmarks.bench_quality import main, train_seconds

    out, png = tmp_path / "q.json", tmp_path / "q.png"
    main(["--data", str(demo_dir), "--label-column", "type", "--run", f"px={tiny_model}",
          "--num", "6", "--json", str(out), "--png", str(png)])
    res = json.loads(out.read_text())
    rows = res["runs"]["px"]
    assert [r["step"] for r in rows] == [3, 6]
    ckpts = sorted((tiny_model / "checkpoints").glob("step-*"))
    assert rows[-1]["cpu_minutes"] == train_seconds(ckpts[-1]) / 60 > rows[0]["cpu_minutes"] > 0
    for r in rows:
        assert r["raw"]["fd"] > 0 and r["finished"]["fd"] > 0
        assert r["finished"]["cleanliness"]["soft_alpha"]["median"] == 0.0  # finishing is on
    assert res["fd_real_halves"] > 0 and png.stat().st_size > 1000
    assert 0 <= rows[0]["raw"]["class_agreement"] <= 1 and res["data_class_agreement"] > 0


def test_bench_quality_guides_a_run_with_an_early_checkpoint(tmp_path, tiny_model, demo_dir):
    """--guide NAME=DIR with --autoguidance samples differently from the run alone, --autoguidance
    without a guide is the one-line error of the CLI."""
    import json

    from benchmarks.bench_quality import main
    from ldm_sprites.errors import UserError

    early = sorted((tiny_model / "checkpoints").glob("step-*"))[0]
    common = ["--data", str(demo_dir), "--label-column", "type", "--run", f"px={tiny_model}",
              "--num", "6", "--every", "2", "--guidance", "1"]
    fds = []
    for extra in ([], ["--guide", f"px={early}", "--autoguidance", "3"]):
        out = tmp_path / f"q{len(extra)}.json"
        main([*common, *extra, "--json", str(out)])
        fds.append(json.loads(out.read_text())["runs"]["px"][0]["raw"]["fd"])
    assert fds[0] != fds[1]
    with pytest.raises(UserError, match="needs a model with a guide"):
        main([*common, "--autoguidance", "3"])


def test_bench_denoiser_scores_each_checkpoint_on_the_same_noisy_inputs(tmp_path, tiny_model,
                                                                       demo_dir):
    """bench_denoiser: one row per checkpoint, the error growing with the noise level, the same
    numbers on a second run (fixed sprites and noise), and a checkpoint folder accepted alone."""
    import json

    from benchmarks.bench_denoiser import evenly_spaced, main

    assert evenly_spaced(493, 96) == list(range(0, 480, 5))
    assert evenly_spaced(10, 96) == list(range(10))
    out = tmp_path / "d.json"
    args = ["--data", str(demo_dir), "--run", f"px={tiny_model}", "--num", "8",
            "--t", "50,500,950", "--json", str(out)]
    res = main(args)
    rows = res["runs"]["px"]
    assert [r["step"] for r in rows] == [3, 6] and res["num"] == 8
    for r in rows:
        e = [r["rmse"][t] for t in ("50", "500", "950")]
        assert 0 < e[0] < e[1] < e[2]
    assert main(args)["runs"] == json.loads(out.read_text())["runs"]
    last = sorted((tiny_model / "checkpoints").glob("step-*"))[-1]
    one = main(["--data", str(demo_dir), "--run", f"one={last}", "--num", "8", "--t", "50,500,950"])
    assert one["runs"]["one"][0]["rmse"] == rows[-1]["rmse"]


def test_shipped_speed_times_both_samplers_on_the_bundled_model(capsys):
    from benchmarks import bench_shipped_speed

    bench_shipped_speed.main(["--num", "2", "--repeats", "1"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("defaults: unipc 12 steps (logsnr)")
    assert [line.split(":")[0] for line in out[1:]] == ["the model's defaults",
                                                       "the sampler at issue 12's filing"]
    assert all("ms per sprite" in line for line in out[1:])
