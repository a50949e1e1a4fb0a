"""``python -m benchmarks.bench_gpu``: the plan is checked on any machine (--dry-run); the real,
timed run needs a CUDA GPU and is skipped without one."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.bench_gpu import main, peak_tflops


def test_dry_run_builds_both_models_and_counts_their_flops(tmp_path):
    result = main(["--dry-run", "--device", "cpu", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu-bench-dry-run.json").read_text())
    assert saved["models"].keys() == result["models"].keys() == {"ddpm-pixel", "latent-default"}
    px, lat = saved["models"]["ddpm-pixel"], saved["models"]["latent-default"]
    assert (px["tokens"], lat["tokens"]) == (256, 64)
    assert px["params_m"] > 20 and px["sampling"] == {"sampler": "ddpm", "steps": 1000,
                                                      "guidance": 1.0}
    for r in (px, lat):
        # counted by torch (attention included) and close to the model's own matmul formula
        assert r["forward_gflop_per_image"] == pytest.approx(r["analytic_forward_gflop"], rel=0.05)
        assert 2.5 < r["train_gflop_per_image"] / r["forward_gflop_per_image"] < 3.5
        assert "train" not in r and "sample" not in r     # nothing timed
    assert "| ddpm-pixel | 24.32 M | 256 |" in (tmp_path / "gpu-bench-dry-run.md").read_text()


def test_peak_table_prefers_the_longest_match():
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0 and peak_tflops("NVIDIA H200") == 989.0
    assert peak_tflops("NVIDIA L40S") == 362.0 and peak_tflops("Some New GPU") is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU: the timed GPU benchmark needs one")
def test_real_run_on_the_gpu(tmp_path):
    result = main(["--steps", "3", "--batch", "32", "--sample-batch", "16", "--ddpm-steps", "3",
                   "--out", str(tmp_path)])
    for r in result["models"].values():
        assert r["train"]["img_per_s"] > 0 and r["train"]["peak_mem_gb"] > 0
        assert r["sample"]["ms_per_sprite"] > 0
    assert (tmp_path / "gpu-bench.md").is_file()
