"""The benchmark scripts that stay, run from their command line as a user runs them (the tests
import nothing from benchmarks/): ``bench_gpu``'s plan is checked on any machine (--dry-run), its
timed run needs a CUDA GPU and is skipped without one; ``bench_ae --report`` re-scores runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def bench(script: str, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", f"benchmarks.{script}", *map(str, args)],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def test_dry_run_builds_both_models_and_counts_their_flops(tmp_path):
    res = bench("bench_gpu", "--dry-run", "--device", "cpu", "--out", tmp_path)
    saved = json.loads((tmp_path / "gpu-bench-dry-run.json").read_text())
    assert saved["dry_run"] and saved["models"].keys() == {"ddpm-pixel", "latent-default"}
    px, lat = saved["models"]["ddpm-pixel"], saved["models"]["latent-default"]
    assert (px["tokens"], lat["tokens"]) == (256, 64)
    assert px["params_m"] > 20 and px["sampling"] == {"sampler": "ddpm", "steps": 1000,
                                                      "guidance": 1.0}
    for r in (px, lat):
        # counted by torch (attention included) and close to the model's own matmul formula
        assert r["forward_gflop_per_image"] == pytest.approx(r["analytic_forward_gflop"], rel=0.05)
        assert 2.5 < r["train_gflop_per_image"] / r["forward_gflop_per_image"] < 3.5
        assert "train" not in r and "sample" not in r     # nothing timed
    table = (tmp_path / "gpu-bench-dry-run.md").read_text()
    assert "| ddpm-pixel | 24.32 M | 256 |" in table and table.strip() in res.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU: the timed GPU benchmark needs one")
def test_real_run_on_the_gpu(tmp_path):
    bench("bench_gpu", "--steps", "3", "--batch", "32", "--sample-batch", "16", "--ddpm-steps", "3",
              "--out", tmp_path)
    result = json.loads((tmp_path / "gpu-bench.json").read_text())
    for r in result["models"].values():
        assert r["train"]["img_per_s"] > 0 and r["train"]["peak_mem_gb"] > 0
        assert r["sample"]["ms_per_sprite"] > 0
    assert (tmp_path / "gpu-bench.md").is_file()
    if any(name in torch.cuda.get_device_name() for name in ("H100", "H200", "A100")):
        assert result["peak_bf16_tflops"] > 0      # the peak table knows the common GPUs


def test_bench_ae_reports_a_run_and_one_of_its_checkpoints(tmp_path, demo_dir):
    """--report takes a run or RUN/checkpoints/step-N; both re-evaluate the held-out split from
    the saved weights and read the run's log only up to the evaluated step."""
    from tests.test_autoencoder import train_nano_ae

    run = train_nano_ae(tmp_path, demo_dir, "vq")
    out = bench("bench_ae", "--report", run, run / "checkpoints" / "step-00000003").stdout
    lines = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| ")]
    keys = [k.strip() for k in lines[0]]
    whole, early = ({k: v.strip() for k, v in zip(keys, row)} for row in lines[1:])
    assert (whole["steps"], early["steps"]) == ("6", "3")
    for row in (whole, early):
        assert row["quantizer"] == "vq" and 0 < float(row["alpha_iou"]) <= 1
        assert float(row["psnr"]) > 0 and float(row["train_img_per_s"]) > 0
        assert row["codebook_size"] == "32" and 0 < float(row["train_code_usage"]) <= 1
    assert whole["psnr"] != early["psnr"]
