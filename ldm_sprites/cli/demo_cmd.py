"""``ldmsprites demo``: the main job end to end with the bundled model, in under a minute."""

from __future__ import annotations

import time

import click

from ldm_sprites.cli.common import device_option, guidance_option
from ldm_sprites.cli.finish_options import finish_options, to_finish_options


@click.command("demo")
@click.option("--out", "out_dir", default="demo", show_default=True, type=click.Path(file_okay=False),
              help="Where to write the grid, GIF, stickers and sprite sheet.")
@click.option("--model", "model_dir", default=None, type=click.Path(),
              help="Model directory (default: the bundled demo model).")
@click.option("--per-class", type=click.IntRange(1, 64), default=4, show_default=True)
@guidance_option()
@click.option("--seed", type=int, default=0, show_default=True)
@finish_options()
@device_option
def demo(out_dir, model_dir, per_class, guidance, seed, device, **finish_flags):
    """Generate sprites of every class, a reverse-process GIF, stickers and a sprite sheet."""
    finish = to_finish_options(finish_flags)
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline
    from ldm_sprites.export import ExportOptions, Sprite, export_sprites
    from ldm_sprites.fsutil import ensure_dir
    from ldm_sprites.image_files import make_grid, save_png
    from ldm_sprites.runtime import model_path
    from ldm_sprites.visual.reverse import ReverseRecorder

    t0 = time.perf_counter()
    out = ensure_dir(out_dir)
    pipe = DiffusionPipeline.from_pretrained(model_path(model_dir), device=device)
    classes = pipe.classes or ["sprite"]
    n_cls = len(classes)
    # Round-robin labels: the first n_cls sprites (the ones the GIF records) cover every class.
    labels = [i % n_cls for i in range(per_class * n_cls)]
    opts = pipe.sampling_options(guidance=guidance)
    recorder = ReverseRecorder(pipe, max_sprites=min(n_cls, 8),
                               timesteps=opts.timesteps(pipe.schedule))
    sprites = pipe.sprites(labels, finish=finish, seed=seed, options=opts, callback=recorder,
                           progress=True)
    order = sorted(range(len(labels)), key=lambda i: (labels[i], i))
    size = sprites.shape[1]
    save_png(out / "grid.png", make_grid(sprites[order], nrow=per_class,
                                         scale=max(1, min(8, 128 // size))))
    recorder.save(out / "reverse.gif")
    items = [Sprite(name=f"{classes[labels[i]]}-{i:03d}", rgba=sprites[i],
                    class_name=classes[labels[i]], seed=seed, source=f"demo sample #{i}")
             for i in order]
    export_sprites(items, out / "assets", ExportOptions(upscale=8), progress=False)
    took = time.perf_counter() - t0
    click.echo(f"{len(labels)} sprites of {n_cls} classes in {took:.1f} s -> {out}/grid.png, "
               f"{out}/reverse.gif, {out}/assets/ (PNGs, SVGs, stickers, sheet.png + sheet.json)")
