"""``ldmsprites animate forward``, ``ldmsprites plot noise-stats`` and ``ldmsprites report``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ldm_sprites.cli.common import device_option, guidance_option, sampler_option, steps_option


def data_options(f):
    """--data and how images become tensors, as in train-diffusion."""
    for opt in reversed([
        click.option("--data", "data_dir", required=True, type=click.Path(),
                     help="Folder of sprites: metadata.csv, one sub-folder per class, or flat."),
        click.option("--size", type=click.IntRange(8, 512), default=32, show_default=True,
                     help="Square sprite size in pixels."),
        click.option("--channels", type=click.Choice(["3", "4"]), default="4", show_default=True,
                     help="4 = RGBA, 3 = RGB composited on white."),
        click.option("--label-column", default=None, help="metadata.csv column holding the class."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Where decoded data is cached (default ~/.cache/ldm-sprites)."),
    ]):
        f = opt(f)
    return f


def schedule_options(default: str):
    """--schedule and --timesteps (T), shared by the commands that noise real data."""
    def wrap(f):
        f = click.option("--timesteps", type=click.IntRange(2, 100000), default=1000,
                         show_default=True, help="T, the number of diffusion steps.")(f)
        return click.option("--schedule", type=click.Choice(["cosine", "linear", "both"]),
                            default=default, show_default=True,
                            help="Noise schedule; 'both' shows cosine and linear side by side.")(f)
    return wrap


def _load(data_dir, size, channels, label_column, cache_dir):
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data

    spec = DataSpec(size=size, channels=int(channels), label_column=label_column)
    return load_sprite_data(data_dir, spec, cache_dir=cache_dir)


def _schedules(value: str) -> list[str]:
    return ["cosine", "linear"] if value == "both" else [value]


def _int_list(text: str, what: str) -> list[int]:
    from ldm_sprites.errors import UserError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} must be comma-separated integers, e.g. 999,500,0") from None


def _spread_over_classes(labels, n: int) -> list[int]:
    """Indices of ``n`` sprites taken round-robin over classes, so every class is shown."""
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(labels.tolist()):
        by_class.setdefault(c, []).append(i)
    queues = [by_class[c] for c in sorted(by_class)]
    out, k = [], 0
    while len(out) < n and any(k < len(q) for q in queues):
        out += [q[k] for q in queues if k < len(q)]
        k += 1
    return out[:n]


@click.group("animate")
def animate():
    """Animations of the diffusion process (the reverse one: generate --gif)."""


@animate.command("forward")
@data_options
@click.option("--out", "out_gif", required=True, type=click.Path(dir_okay=False),
              help="GIF to write; a PNG strip is written beside it as <name>-strip.png.")
@schedule_options("cosine")
@click.option("--num", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Sprites in the grid (spread over the classes).")
@click.option("--frames", type=click.IntRange(2, 500), default=24, show_default=True)
@click.option("--fps", type=click.FloatRange(0.5, 50), default=6.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
def animate_forward(data_dir, size, channels, label_column, cache_dir, out_gif, schedule, timesteps,
                    num, frames, fps, seed):
    """Animate real sprites being noised by q(x_t | x_0) from t = 0 to T-1."""
    from ldm_sprites.fsutil import ensure_dir
    from ldm_sprites.visual.forward import forward_process, render_forward

    ensure_dir(Path(out_gif).parent)
    data = _load(data_dir, size, channels, label_column, cache_dir)
    idx = _spread_over_classes(data.labels, num)
    ts, seqs = forward_process(data.images[idx], _schedules(schedule), T=timesteps, frames=frames,
                               channels=int(channels), seed=seed)
    written = render_forward(ts, seqs, timesteps, out_gif, fps=fps)
    click.echo(f"{len(ts)} frames of {len(idx)} sprites -> {', '.join(map(str, written))}")


@click.group("plot")
def plot():
    """Static plots about the data and the diffusion process."""


@plot.command("noise-stats")
@data_options
@click.option("--out", "out_png", required=True, type=click.Path(dir_okay=False),
              help="PNG to write; the numbers go to <name>.json beside it (or --json).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@schedule_options("both")
@click.option("--t", "t_text", default=None,
              help="Comma-separated timesteps to show (default 0, T/10, T/4, T/2, 3T/4, T-1).")
@click.option("--ae", "ae_dir", type=click.Path(), default=None,
              help="Show latents of this autoencoder instead of pixels.")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
def noise_stats_cmd(data_dir, size, channels, label_column, cache_dir, out_png, json_path, schedule,
                    timesteps, t_text, ae_dir, seed, device):
    """Histograms of x_t values against N(0, 1), with the Kolmogorov–Smirnov statistic."""
    from ldm_sprites.data.tensors import rgba_uint8_to_model
    from ldm_sprites.fsutil import atomic_write_json, ensure_dir
    from ldm_sprites.visual.noise_stats import (default_timesteps, noise_stats, plot_noise_stats,
                                                stats_json)

    ensure_dir(Path(out_png).parent)
    ts = _int_list(t_text, "--t") if t_text else default_timesteps(timesteps)
    if ae_dir:
        x0, source = _latents(ae_dir, data_dir, label_column, cache_dir, device), "latents"
    else:
        data = _load(data_dir, size, channels, label_column, cache_dir)
        x0, source = rgba_uint8_to_model(data.images, int(channels)), "pixels"
    stats = noise_stats(x0, _schedules(schedule), ts, T=timesteps, seed=seed)
    plot_noise_stats(stats, out_png, f"{source} of {Path(data_dir).name} through q(x_t | x_0) "
                                     f"vs N(0,1)")
    json_path = json_path or str(Path(out_png).with_suffix(".json"))
    atomic_write_json(json_path, stats_json(stats, source))
    for kind, per_t in stats.items():
        click.echo(f"{kind:7s} " + "  ".join(f"t={t}: KS={d['ks']:.4f}" for t, d in per_t.items()))
    click.echo(f"-> {out_png}, {json_path}")


def _latents(ae_dir, data_dir, label_column, cache_dir, device):
    """Latents of the data under an autoencoder (the sprites, not their mirror images)."""
    from ldm_sprites.autoencoder import encode_dataset, load_autoencoder
    from ldm_sprites.data.dataset import load_sprite_data

    ae = load_autoencoder(ae_dir, device=device)
    spec = replace(ae.data_spec, label_column=label_column)   # decoded as the AE's training data
    data = load_sprite_data(data_dir, spec, cache_dir=cache_dir)
    return encode_dataset(ae, data, cache_dir=cache_dir, flip=False)[0].cpu()


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for loss.png, timesteps.png, report.json (default RUN_DIR/report).")
@click.option("--buckets", is_flag=True, help="Add per-timestep-bucket loss curves.")
@click.option("--table/--no-table", default=True, show_default=True,
              help="Sample every checkpoint for the timesteps x checkpoints table.")
@click.option("--checkpoints", "ckpt_text", default=None,
              help="Comma-separated checkpoint folders for the table (default: all saved).")
@click.option("--t", "t_text", default=None,
              help="Comma-separated t for the table columns (default T-1, 3T/4, T/2, T/4, T/10, 0).")
@click.option("--show", type=click.Choice(["x0", "xt"]), default="x0", show_default=True,
              help="Table cells: the predicted clean sprite or the noisy x_t.")
@click.option("--class", "class_names", multiple=True, help="Classes in each cell (default all, up to 8).")
@sampler_option()
@steps_option()
@guidance_option()
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
def report(run_dir, out_dir, buckets, table, ckpt_text, t_text, show, class_names, sampler, steps,
           guidance, seed, device):
    """Loss curve and timesteps x checkpoints table of a training run."""
    from ldm_sprites.cli.common import split_names
    from ldm_sprites.errors import UserError
    from ldm_sprites.fsutil import atomic_write_json, ensure_dir
    from ldm_sprites.image_files import save_png
    from ldm_sprites.modeldir import list_checkpoints, load_model_dir, resolve_model_dir
    from ldm_sprites.visual.report import loss_summary, plot_loss, read_log, timestep_table

    run = Path(run_dir)
    out = ensure_dir(out_dir or run / "report")
    records = read_log(run)
    ckpts = [resolve_model_dir(p.strip()) for p in ckpt_text.split(",") if p.strip()] \
        if ckpt_text else list_checkpoints(run)
    T = load_model_dir(ckpts[-1]).config.get("diffusion", {}).get("timesteps", 1000) \
        if ckpts else 1000
    written = [plot_loss(records, out / "loss.png", buckets, T=T, title=f"run: {run.name}")]
    summary = {"run": str(run), "loss": loss_summary(records, T),
               "checkpoints": [p.name for p in ckpts]}
    if table:
        if not ckpts:
            raise UserError(f"{run} has no checkpoints yet; run report with --no-table")
        ts = _int_list(t_text, "--t") if t_text else \
            [T - 1, (3 * T) // 4, T // 2, T // 4, T // 10, 0]
        image, info = timestep_table(ckpts, ts, split_names(class_names), sampler=sampler,
                                     steps=steps, guidance=guidance, seed=seed, show=show,
                                     device=device)
        written.append(save_png(out / "timesteps.png", image))
        summary["table"] = info
    written.append(atomic_write_json(out / "report.json", summary))
    ls = summary["loss"]
    click.echo(f"{ls['steps']} steps, smoothed loss {ls['final_loss_smoothed']:.4f} "
               f"(min {ls['min_loss_smoothed']:.4f}) -> {', '.join(map(str, written))}")
