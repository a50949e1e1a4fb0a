"""Training speed as time-to-loss: the DiT (adaLN-Zero) vs a plain nn.TransformerEncoder ViT with
additive time + class embedding, same width, depth, heads, patching, data and optimiser.

    python -m benchmarks.bench_convergence [--minutes 6] [--size 32] [--preset ddpm]

Images per second only say how fast a step is; what a user waits for is the loss. Both models are
trained in turn for the same wall time on the procedural demo set (same batches, timesteps, noise
and label dropout, drawn from one seeded generator each), and every ``--eval-every`` steps the
held-out epsilon-MSE is measured at fixed (sprite, t, noise) triples. Reported: img/s, the final
held-out loss of each, and how long each needed to reach the plain ViT's final loss; their ratio
is the "trains x times faster" figure. Run it alone: both models share the CPU's clock.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from benchmarks.baselines import PlainViTDenoiser
from benchmarks.common import eps_training_step, machine, table
from ldm_sprites.data.tensors import rgba_uint8_to_model
from ldm_sprites.demo_art import DEMO_CLASSES, make_demo_sprites
from ldm_sprites.diffusion.dit import PRESETS, build_dit
from ldm_sprites.diffusion.schedule import NoiseSchedule


def demo_tensors(size: int, n_per_class: int, seed: int = 0):
    images, labels = make_demo_sprites(n_per_class, size=size, seed=seed)
    x = rgba_uint8_to_model(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous())
    y = torch.tensor([DEMO_CLASSES.index(name) for name in labels])
    return x, y


class HeldOut:
    """Fixed (x0, t, noise, label) quadruples: the same loss estimate for every model and step."""

    def __init__(self, x, y, schedule: NoiseSchedule, seed: int = 1):
        g = torch.Generator().manual_seed(seed)
        n = x.shape[0]
        self.t = (torch.arange(n) * schedule.T // n).flip(0)  # stratified over all timesteps
        self.noise = torch.randn(x.shape, generator=g)
        self.xt = schedule.q_sample(x, self.t, self.noise)
        self.y = y

    @torch.no_grad()
    def loss(self, model, batch: int = 128) -> float:
        model.eval()
        total = 0.0
        for i in range(0, self.xt.shape[0], batch):
            sl = slice(i, i + batch)
            pred = model(self.xt[sl], self.t[sl], self.y[sl])
            total += F.mse_loss(pred, self.noise[sl], reduction="sum").item()
        model.train()
        return total / self.noise.numel()


def train_for(model, x, y, held: HeldOut, schedule: NoiseSchedule, n_classes: int, seconds: float,
              batch: int, lr: float, eval_every: int, seed: int = 0) -> dict:
    """Train for ``seconds`` of wall time (evaluation excluded); returns the loss curve."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warmup = 50
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    curve = [(0.0, 0, held.loss(model))]
    spent, step = 0.0, 0
    model.train()
    while spent < seconds:
        t0 = time.perf_counter()
        for _ in range(eval_every):
            idx = torch.randint(x.shape[0], (batch,), generator=g)
            labels = torch.where(torch.rand(batch, generator=g) < 0.1,
                                 torch.full((batch,), n_classes), y[idx])  # CFG label dropout
            eps_training_step(model, opt, schedule, x[idx], labels, g)
            sched.step()
            step += 1
        spent += time.perf_counter() - t0
        curve.append((spent, step, held.loss(model)))
        print(f"  {type(model).__name__}: {spent:6.0f} s, step {step:5d}, held-out loss "
              f"{curve[-1][2]:.4f}", flush=True)
    return {"curve": curve, "img_per_s": step * batch / spent}


def time_to_reach(curve, target: float) -> float | None:
    """First wall time at which the held-out loss is <= target (linear between evaluations)."""
    for (t0, _, l0), (t1, _, l1) in zip(curve, curve[1:]):
        if l1 <= target:
            if l0 <= target:
                return t0
            return t0 + (t1 - t0) * (l0 - target) / (l0 - l1)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=6.0, help="training wall time per model")
    ap.add_argument("--size", type=int, default=32, help="demo sprite size (32: 64 tokens)")
    ap.add_argument("--preset", default="ddpm", choices=list(PRESETS))
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--eval-every", type=int, default=25)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    schedule = NoiseSchedule()
    n_classes = len(DEMO_CLASSES)
    x, y = demo_tensors(args.size, 200)
    hx, hy = demo_tensors(args.size, 32, seed=10_000)  # unseen sprites: 192 held out
    held = HeldOut(hx, hy, schedule)
    p = PRESETS[args.preset]
    torch.manual_seed(0)
    dit = build_dit(args.preset, input_size=args.size, in_channels=4, patch_size=args.patch,
                    num_classes=n_classes, class_dropout=0.0)  # dropout done identically above
    torch.manual_seed(0)
    vit = PlainViTDenoiser(input_size=args.size, in_channels=4, patch_size=args.patch,
                           hidden_size=p["hidden_size"], depth=p["depth"], num_heads=p["num_heads"],
                           num_classes=n_classes)
    size = (f"{args.size}x{args.size}, patch {args.patch}, w{p['hidden_size']} d{p['depth']} "
            f"h{p['num_heads']}")
    print(f"{size}; {x.shape[0]} demo sprites, {args.minutes} min each, batch {args.batch}, "
          f"AdamW lr {args.lr}")
    runs = {}
    for name, model in (("plain ViT", vit), ("DiT", dit)):
        runs[name] = train_for(model, x, y, held, schedule, n_classes, args.minutes * 60,
                               args.batch, args.lr, args.eval_every)
    target = runs["plain ViT"]["curve"][-1][2]
    models = {"plain ViT": vit, "DiT": dit}
    rows = []
    for name, r in runs.items():
        reach = time_to_reach(r["curve"], target)
        n_params = sum(q.numel() for q in models[name].parameters()) / 1e6
        rows.append({"model": name, "params": f"{n_params:.1f} M",
                     "train img/s": f"{r['img_per_s']:.1f}",
                     "final held-out loss": f"{r['curve'][-1][2]:.4f}",
                     "s to plain ViT's final loss": f"{reach:.0f}" if reach is not None else "-"})
    print(table(rows))
    t_vit = time_to_reach(runs["plain ViT"]["curve"], target)
    t_dit = time_to_reach(runs["DiT"]["curve"], target)
    if t_dit:
        print(f"\nDiT reaches the plain ViT's final held-out loss {t_vit / t_dit:.2f}x sooner "
              f"(img/s ratio {runs['DiT']['img_per_s'] / runs['plain ViT']['img_per_s']:.2f}x)")


if __name__ == "__main__":
    main()
