"""Autoencoder benchmark: train with train-ae, report held-out PSNR / alpha IoU / codebook usage.

    python -m benchmarks.bench_ae --config configs/ae-kl.yaml \
        --data ../shared/data/pokemon-sprites --out runs/bench-ae-kl [--steps N --batch-size B]
    python -m benchmarks.bench_ae --report runs/bench-ae-kl runs/bench-ae-vq   # table only

The held-out split (data.holdout, 10 % by default) is deterministic by seed and stored in the
checkpoint; metrics are re-computed here from the saved EMA weights, so the table does not trust
the training log. Wall time comes from the training log (first to last step, data decoding and
evaluation excluded) and the command's own clock.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch


def evaluate_run(run: str, data_dir: str | None = None) -> dict:
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.autoencoder.task import evaluate_reconstruction
    from ldm_sprites.data.dataset import load_sprite_data

    ae = load_autoencoder(run, device="cpu")
    cfg = ae.config
    row = {"run": run, "quantizer": ae.quantizer, "f": ae.downsample,
           "latent": f"{ae.latent_channels}x{ae.latent_size}x{ae.latent_size}",
           "steps": cfg.get("step"), "scale_factor": round(ae.scale_factor, 4)}
    data_dir = cfg.get("data_dir") or data_dir
    if data_dir:
        data = load_sprite_data(data_dir, ae.data_spec)   # decoded as the AE's training data
        held = torch.tensor(cfg["holdout_ids"], dtype=torch.long)
        row.update(evaluate_reconstruction(ae.model, data.images[held], ae.data_spec.channels,
                                           ae.device))
    m = cfg.get("heldout_metrics", {})
    for k in ("train_code_usage", "train_code_perplexity", "codebook_size"):
        if k in m:
            row[k] = m[k]
    # A run directory, or one of its checkpoints (RUN/checkpoints/step-N): the log is the run's.
    log_path = next((d / "log.jsonl" for d in (Path(run), Path(run).parent.parent)
                     if (d / "log.jsonl").is_file()), None)
    log = [json.loads(l) for l in log_path.read_text().splitlines() if l.strip()] if log_path else []
    log = [r for r in log if row["steps"] is None or r["step"] <= row["steps"]]
    if log:
        row["train_img_per_s"] = round(sum(r["img_per_s"] for r in log) / len(log), 2)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config")
    p.add_argument("--data")
    p.add_argument("--out")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--report", nargs="*", default=None, help="only tabulate these runs")
    args = p.parse_args()
    runs = args.report or []
    if args.report is None:
        cmd = [sys.executable, "-m", "ldm_sprites", "train-ae", "--config", args.config,
               "--data", args.data, "--out", args.out]
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        if args.batch_size:
            cmd += ["--batch-size", str(args.batch_size)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"wall time: {(time.perf_counter() - t0) / 60:.1f} min for: {' '.join(cmd)}")
        runs = [args.out]
    rows = [evaluate_run(r, args.data) for r in runs]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
