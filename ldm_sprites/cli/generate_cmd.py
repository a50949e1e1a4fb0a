"""``ldmsprites generate`` and ``ldmsprites classes``."""

from __future__ import annotations

from pathlib import Path

import click

from ldm_sprites.cli.common import (MODEL_HELP, autoguidance_option, device_option, eta_option,
                                    guidance_interval_option, guidance_option,
                                    init_noise_option, sampler_option, spacing_option,
                                    split_names, steps_option, tileable_option)
from ldm_sprites.cli.finish_options import finish_options, to_finish_options


@click.command("generate")
@click.option("--model", "model_dir", default=None, type=click.Path(),
              help=MODEL_HELP)
@click.option("--class", "class_names", multiple=True,
              help="Class name(s); repeat or comma-separate. Sprites are spread over them.")
@click.option("--num", type=click.IntRange(1, 100000), default=16, show_default=True,
              help="How many sprites in total.")
@guidance_option()
@steps_option()
@sampler_option()
@spacing_option
@eta_option
@init_noise_option
@guidance_interval_option
@autoguidance_option
@tileable_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--out", "out_png", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG grid here.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Write one RGBA PNG per sprite here (+ sprites.json with class and seed).")
@click.option("--scale", type=click.IntRange(1, 32), default=None,
              help="Nearest-neighbour zoom of the grid (default: up to 128 px per sprite).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="Also export upscaled PNGs, SVGs, stickers and a sheet here.")
@click.option("--gif", "gif_path", type=click.Path(dir_okay=False), default=None,
              help="Write the reverse process (x_t | predicted x0) as an animated GIF.")
@click.option("--ae", "ae_dir", type=click.Path(), default=None,
              help="Use this autoencoder instead of the one recorded in the model.")
@click.option("--weights", type=click.Choice(["ema", "model"]), default="ema", show_default=True,
              help="Sample with the EMA weights or the raw ones.")
@click.option("--compile", "compile_", is_flag=True,
              help="Sample through torch.compile: ~1.3x faster on CPU after a one-off compile of "
                   "~20-100 s, so only for large batches (needs a C++ compiler).")
@finish_options()
@device_option
def generate(model_dir, class_names, num, guidance, steps, sampler, spacing, eta, init_noise,
             guidance_interval, autoguidance, tileable, seed,
             batch_size, out_png, out_dir, scale, export_dir, gif_path, ae_dir, weights, compile_,
             device, **finish_flags):
    """Generate sprites by class name (finished in the model's palette unless --finish none).

    With --tileable, tiles that repeat without a seam (docs/tiles.md)."""
    from ldm_sprites.data.wrap import parse_axes

    tile_axes = parse_axes(tileable)   # an unknown axis fails before the model loads
    # Tiles of one batch are variants that must fit together on a map: one shared palette.
    finish = to_finish_options(finish_flags, shared_default=tile_axes is not None)
    if not (out_png or out_dir or export_dir or gif_path):
        raise click.UsageError("say where to write: --out grid.png, --out-dir DIR and/or --export DIR")
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.fsutil import ensure_dir
    from ldm_sprites.runtime import model_path

    # Check outputs before the (possibly long) sampling run.
    for p in (out_png, gif_path):
        if p:
            ensure_dir(Path(p).parent if str(Path(p).parent) else ".")
    for p in (out_dir, export_dir):
        if p:
            ensure_dir(p)
    pipe = DiffusionPipeline.from_pretrained(model_path(model_dir), device=device,
                                             weights=weights, ae_path=ae_dir)
    if compile_:
        pipe.compile()
    labels, label_names = pipe.spread_labels(split_names(class_names), num)
    # Only what the user set, over the model's saved defaults: resolved once, sampled and recorded.
    opts = pipe.sampling_options(sampler=sampler, steps=steps, guidance=guidance, eta=eta,
                                 init_noise=init_noise, guidance_interval=guidance_interval,
                                 spacing=spacing, autoguidance=autoguidance, tileable=tile_axes)
    callback = None
    if gif_path:
        from ldm_sprites.visual.reverse import ReverseRecorder

        ts = opts.timesteps(pipe.schedule)
        # At most ~60 frames: a 1000-step DDPM run would otherwise make a huge, slow GIF.
        callback = ReverseRecorder(pipe, max_sprites=min(num, 8), every=max(1, len(ts) // 60),
                                   timesteps=ts)
    sprites = pipe.sprites(labels, finish=finish, seed=seed, batch_size=batch_size,
                           callback=callback, progress=True, options=opts)
    written = []
    if out_png:
        from ldm_sprites.image_files import make_grid, save_png

        z = scale or max(1, min(8, 128 // sprites.shape[1]))
        n_cls = len(set(labels))
        per_row = num // n_cls if n_cls > 1 and num % n_cls == 0 and num // n_cls <= 16 else None
        order = sorted(range(num), key=lambda i: (labels[i], i)) if per_row else range(num)
        save_png(out_png, make_grid(sprites[list(order)], nrow=per_row, scale=z))
        written.append(out_png)
    records = [{"file": f"{label_names[i]}-{i:03d}.png", "class": label_names[i], "seed": seed,
                "index": i} for i in range(num)]
    if out_dir:
        from ldm_sprites.fsutil import atomic_write_json
        from ldm_sprites.image_files import save_sprite

        for rec, rgba in zip(records, sprites):
            save_sprite(Path(out_dir) / rec["file"], rgba)
        atomic_write_json(Path(out_dir) / "sprites.json", {
            "model": str(Path(model_path(model_dir))), "sampler": opts.sampler,
            "steps": opts.steps, "spacing": opts.spacing, "guidance": opts.guidance,
            "autoguidance": opts.autoguidance, "tileable": opts.tileable,
            "finish": finish.to_json(),
            "sprites": records})
        written.append(f"{Path(out_dir)}/ ({num} PNGs)")
    if export_dir:
        from ldm_sprites.export import Sprite, export_sprites

        items = [Sprite(name=Path(r["file"]).stem, rgba=s, class_name=r["class"], seed=seed,
                        source=f"generated #{r['index']}") for r, s in zip(records, sprites)]
        from ldm_sprites.export import ExportOptions

        export_sprites(items, export_dir, ExportOptions(tileset=opts.tileable), progress=True)
        written.append(f"{Path(export_dir)}/ (export{' + tileset' if opts.tileable else ''})")
    if gif_path:
        callback.save(gif_path)
        written.append(gif_path)
    what = f"tiles (tileable {opts.tileable})" if opts.tileable else "sprites"
    click.echo(f"{num} {what} ({', '.join(sorted(set(label_names)))}) -> {', '.join(written)}")


@click.command("classes")
@click.option("--model", "model_dir", default=None, type=click.Path(),
              help=MODEL_HELP)
def classes(model_dir):
    """List the class names a model can generate."""
    from ldm_sprites.modeldir import load_model_dir
    from ldm_sprites.runtime import model_path

    md = load_model_dir(model_path(model_dir))
    if not md.classes:
        click.echo("(unconditional model: no classes)")
    for name in md.classes:
        click.echo(name)
