"""Does memory grow with the data set? Peak anonymous memory and img/s, small set vs large set.

    ldmsprites demo-data --out data/demo                            # 1,500 sprites
    ldmsprites demo-data --out data/big --num-per-class 33334       # 200,004 sprites
    python -m benchmarks.bench_scale --small data/demo --big data/big

For each data set and mode (``pixel``: configs/pixel-tiny.yaml; ``latent``: configs/demo-dit.yaml
in the bundled demo autoencoder's latent space) a fresh process runs ``train-diffusion``'s own
code path (``run_diffusion_training``) for ``--steps`` steps, twice: **cold** (empty cache:
decodes every PNG into the sprite cache and, in latent mode, encodes every sprite into the
latent cache) and **warm** (both caches exist: what every later run does). A thread samples
``RssAnon`` and ``RssFile`` from /proc/self/status every 20 ms; the peak of each is reported,
with training img/s (from the run's own log, the first log interval dropped). Anonymous memory
should not depend on the data set: the caches are memory-mapped, so their pages are file-backed
(``RssFile``: reclaimable page cache that the kernel drops under pressure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {"pixel": "configs/pixel-tiny.yaml", "latent": "configs/demo-dit.yaml"}


def read_status() -> dict[str, int]:
    """RssAnon / RssFile / VmHWM of this process in MB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


class PeakSampler(threading.Thread):
    def __init__(self, every: float = 0.02):
        super().__init__(daemon=True)
        self.every, self.peak, self.stop = every, {}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for k, v in read_status().items():
                self.peak[k] = max(self.peak.get(k, 0.0), v)
            self.stop.wait(self.every)


def child(args) -> None:
    """One measured run in this (fresh) process; prints one JSON line."""
    os.environ["LDMSPRITES_QUIET"] = "1"
    sampler = PeakSampler()
    sampler.start()
    base = read_status()
    import torch

    torch.set_num_threads(args.threads)

    from ldm_sprites.config_loader import apply_overrides, load_config
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.training.diffusion_run import run_diffusion_training

    after_import = read_status()
    cfg = load_config(ROOT / MODES[args.mode], DiffusionConfig)
    apply_overrides(cfg, {"train.steps": args.steps, "train.log_every": args.log_every,
                          "train.sample_every": 0, "train.checkpoint_every": 10 ** 9,
                          "data.label_column": "type"})
    ae = None
    if args.mode == "latent":
        from ldm_sprites.runtime import bundled_model_dir

        ae = Path(bundled_model_dir()) / "ae"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = run_diffusion_training(cfg, args.data, Path(out) / "run", ae_dir=ae,
                                        cache_dir=args.cache)
        log = [json.loads(line) for line in (Path(out) / "run" / "log.jsonl").read_text()
               .splitlines()]
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    rates = [r["img_per_s"] for r in log[1:]] or [log[-1]["img_per_s"]]
    print(json.dumps({
        "steps": result["step"], "img_per_s": round(sum(rates) / len(rates), 1),
        "wall_s": round(wall, 1),
        "peak_rss_anon_mb": round(sampler.peak["RssAnon"], 1),
        "peak_rss_file_mb": round(sampler.peak["RssFile"], 1),
        "vm_hwm_mb": round(sampler.peak["VmHWM"], 1),
        "rss_anon_at_start_mb": round(base["RssAnon"], 1),
        "rss_anon_after_import_mb": round(after_import["RssAnon"], 1)}))


def measure(data: str, mode: str, cache: Path, steps: int, log_every: int, threads: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--child", "--data", data,
           "--mode", mode, "--cache", str(cache), "--steps", str(steps),
           "--log-every", str(log_every), "--threads", str(threads)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def count_sprites(data: str) -> int:
    with open(Path(data) / "metadata.csv") as fh:
        return sum(1 for _ in fh) - 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", help="small data set (ldmsprites demo-data --out DIR)")
    p.add_argument("--big", action="append",
                   help="large data set (demo-data --num-per-class 33334); may be repeated")
    p.add_argument("--modes", default="pixel,latent")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if not (args.small and args.big):
        p.error("--small and --big are required")
    from benchmarks.common import machine, table

    rows = []
    for data in [args.small, *args.big]:
        n = count_sprites(data)
        for mode in args.modes.split(","):
            cache = Path(tempfile.mkdtemp(prefix="bench-scale-cache-"))
            try:
                for phase in ("cold", "warm"):
                    r = measure(data, mode, cache, args.steps, args.log_every, args.threads)
                    rows.append({"sprites": f"{n:,}", "mode": mode, "cache": phase,
                                 "train img/s": r["img_per_s"], "wall s": r["wall_s"],
                                 "peak RssAnon MB": r["peak_rss_anon_mb"],
                                 "peak RssFile MB": r["peak_rss_file_mb"],
                                 "VmHWM MB": r["vm_hwm_mb"]})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    print(f"\nmachine: {machine()}\n")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
