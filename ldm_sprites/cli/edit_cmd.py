"""``ldmsprites vary`` (variations, class transfer) and ``ldmsprites inpaint``: edit sprites you have.

The algorithms are in ``diffusion/editing.py`` (inputs and masks: ``diffusion/edit_inputs.py``);
this module parses flags, checks every input before any sampling or writing, and writes the same
outputs as ``generate`` (grid, one PNG per sprite, export pack, reverse-process GIF).
"""

from __future__ import annotations

from pathlib import Path

import click

from ldm_sprites.cli.common import (MODEL_HELP, NEW, autoguidance_option, device_option, eta_option,
                                    guidance_interval_option, guidance_option, sampler_option,
                                    spacing_option, split_names, steps_option, tileable_option)
from ldm_sprites.cli.finish_options import finish_options, to_finish_options


def edit_options(fn):
    """Model, sampling, output and finishing flags shared by vary and inpaint."""
    for opt in reversed([
        click.option("--model", "model_dir", default=None, type=click.Path(),
                     help=MODEL_HELP),
        click.option("--class", "class_names", multiple=True,
                     help="Target class(es), repeat or comma-separate; outputs are spread over "
                          "them. Default: none (the model's unconditional mode, no guidance)."),
        click.option("--num", type=click.IntRange(1, 10000), default=8, show_default=True,
                     help="Outputs per input sprite."),
        guidance_option(f"; class transfer, vary --class below --strength 1: its "
                        f"transfer_guidance, {NEW.transfer_guidance:g}"),
        steps_option("Sampler steps of the full schedule"),
        sampler_option(f"Any sampler. Default: the model's ({NEW.sampler} for new models); vary "
                       "below --strength 1 without --sampler, --steps or --spacing: its vary_* "
                       f"ones ({NEW.vary_sampler}, {NEW.vary_steps} {NEW.vary_spacing} steps)."),
        spacing_option,
        eta_option,
        guidance_interval_option,
        autoguidance_option,
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True),
        click.option("--keep-palette", is_flag=True,
                     help="Snap the outputs to the input sprite's own colours."),
        finish_options(),
        click.option("--out", "out_png", type=click.Path(dir_okay=False), default=None,
                     help="PNG grid: each input, then its outputs."),
        click.option("--out-dir", type=click.Path(file_okay=False), default=None,
                     help="One RGBA PNG per output (+ sprites.json)."),
        click.option("--scale", type=click.IntRange(1, 32), default=None,
                     help="Nearest-neighbour zoom of the grid (default: up to 128 px a sprite)."),
        click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
                     help="Also export upscaled PNGs, SVGs, stickers and a sheet here."),
        click.option("--gif", "gif_path", type=click.Path(dir_okay=False), default=None,
                     help="The reverse process of the first outputs as an animated GIF."),
        click.option("--ae", "ae_dir", type=click.Path(), default=None,
                     help="Use this autoencoder instead of the one recorded in the model."),
        device_option,
    ]):
        fn = opt(fn)
    return fn


class _Job:
    """What both commands share: load, check outputs, record the GIF, write everything."""

    def __init__(self, kw: dict, tiles: bool = False):
        # tiles (vary --tileable): variants that must fit together share one palette
        self.finish = to_finish_options(kw, shared_default=tiles)
        self.kw = kw
        if not (kw["out_png"] or kw["out_dir"] or kw["export_dir"] or kw["gif_path"]):
            raise click.UsageError("say where to write: --out grid.png, --out-dir DIR, --export "
                                   "DIR and/or --gif reverse.gif")
        from ldm_sprites.diffusion.pipeline import DiffusionPipeline
        from ldm_sprites.runtime import model_path

        self.model_dir = model_path(kw["model_dir"])
        self.pipe = DiffusionPipeline.from_pretrained(self.model_dir, device=kw["device"],
                                                      ae_path=kw["ae_dir"])
        self.classes = split_names(kw["class_names"])
        if self.classes:
            self.pipe.class_ids(self.classes)  # unknown class: fail now
        self.sampling = {k: kw[k] for k in ("sampler", "steps", "guidance", "eta",
                                            "guidance_interval", "spacing", "autoguidance")}
        self.opts = self.pipe.sampling_options(**self.sampling)
        self.recorder = None

    def prepare_outputs(self, timesteps: list[int], n_first: int) -> None:
        """Create output folders (after the inputs passed their checks) and the GIF recorder."""
        from ldm_sprites.fsutil import ensure_dir

        for p in (self.kw["out_png"], self.kw["gif_path"]):
            if p:
                ensure_dir(Path(p).parent if str(Path(p).parent) else ".")
        for p in (self.kw["out_dir"], self.kw["export_dir"]):
            if p:
                ensure_dir(p)
        if self.kw["gif_path"] and timesteps:
            from ldm_sprites.visual.reverse import ReverseRecorder

            self.recorder = ReverseRecorder(self.pipe, max_sprites=min(n_first, 8),
                                            every=max(1, len(timesteps) // 60),
                                            timesteps=timesteps)

    def edit_kwargs(self) -> dict:
        """What both edits take: the options resolved once (``self.opts``, what is recorded)."""
        return dict(classes=self.classes or None, seed=self.kw["seed"],
                    batch_size=self.kw["batch_size"], callback=self.recorder, progress=True,
                    finish=self.finish, keep_palette=self.kw["keep_palette"], options=self.opts)

    def write(self, result, rows: list, what: str, extra: dict, tileset: str | None = None) -> None:
        """``rows``: one list of (S, S, 4) sprites per grid row; ``tileset``: the outputs are
        tiles wrapping along these axes (the export adds their tileset and previews)."""
        import numpy as np

        kw, written = self.kw, []
        if kw["out_png"]:
            from ldm_sprites.image_files import make_grid, save_png

            width = max(len(r) for r in rows)
            blank = np.zeros_like(rows[0][0])
            cells = np.stack([c for r in rows for c in r + [blank] * (width - len(r))])
            z = kw["scale"] or max(1, min(8, 128 // cells.shape[1]))
            save_png(kw["out_png"], make_grid(cells, nrow=width, scale=z))
            written.append(kw["out_png"])
        records = [{"file": f"{result.inputs[o].name}-{i:03d}.png", "input": result.inputs[o].name,
                    "class": n, "seed": kw["seed"], "index": i}
                   for i, (o, n) in enumerate(zip(result.owner, result.names))]
        if kw["out_dir"]:
            from ldm_sprites.fsutil import atomic_write_json
            from ldm_sprites.image_files import save_sprite

            for rec, rgba in zip(records, result.sprites):
                save_sprite(Path(kw["out_dir"]) / rec["file"], rgba)
            atomic_write_json(Path(kw["out_dir"]) / "sprites.json", {
                "model": str(self.model_dir), "sampler": self.opts.sampler,
                "steps": self.opts.steps, "guidance": self.opts.guidance, **extra,
                "sprites": records})
            written.append(f"{Path(kw['out_dir'])}/ ({len(records)} PNGs)")
        if kw["export_dir"]:
            from ldm_sprites.export import ExportOptions, Sprite, export_sprites

            items = [Sprite(name=Path(r["file"]).stem, rgba=s, class_name=r["class"],
                            seed=kw["seed"], source=f"{what} of {r['input']}")
                     for r, s in zip(records, result.sprites)]
            export_sprites(items, kw["export_dir"], ExportOptions(tileset=tileset), progress=True)
            written.append(f"{Path(kw['export_dir'])}/ (export{' + tileset' if tileset else ''})")
        if self.recorder is not None:
            self.recorder.save(kw["gif_path"])
            written.append(kw["gif_path"])
        elif kw["gif_path"]:
            click.echo("--gif: no sampler step ran (strength 0), so there is no reverse process")
        click.echo(f"{len(records)} {what}s of {len(result.inputs)} sprite(s) -> "
                   f"{', '.join(written) or 'nothing written'}")


@click.command("vary")
@click.argument("sprites", nargs=-1, required=True, type=click.Path())
@click.option("--strength", type=float, default=0.5, show_default=True,
              help="How far to noise each input: 0 = unchanged, 1 = from pure noise.")
@tileable_option
@edit_options
def vary(sprites, strength, tileable, **kw):
    """Variations of sprites you have (SDEdit); with --class, class transfer.

    SPRITES are image files or folders of them.

    Each input is fitted like training data, noised to the step --strength picks and denoised
    from there with the chosen sampler (SDEdit). With --tileable, variants of a tile that
    still repeat without a seam, in one shared palette (docs/tiles.md).
    """
    from ldm_sprites.data.wrap import parse_axes
    from ldm_sprites.diffusion.edit_inputs import load_inputs
    from ldm_sprites.diffusion.editing import check_strength, start_index, vary_flags

    check_strength(strength)
    tile_axes = parse_axes(tileable)   # an unknown axis fails before the model loads
    job = _Job(kw, tiles=tile_axes is not None)
    job.opts = job.pipe.sampling_options(**job.sampling, tileable=tile_axes,
                                         **vary_flags(job.classes, strength))
    inputs = load_inputs(job.pipe, list(sprites))
    ts = job.opts.timesteps(job.pipe.schedule)
    job.prepare_outputs(ts[start_index(ts, strength):], kw["num"] * len(inputs))
    from ldm_sprites.diffusion.editing import vary_sprites

    result = vary_sprites(job.pipe, inputs, strength=strength, num=kw["num"], **job.edit_kwargs())
    rows = [[inp.fitted, *(s for s, o in zip(result.sprites, result.owner) if o == j)]
            for j, inp in enumerate(result.inputs)]
    job.write(result, rows, "variation", {"strength": strength, "tileable": tile_axes},
              tileset=tile_axes)


@click.command("inpaint")
@click.argument("sprite", type=click.Path())
@click.option("--mask", type=click.Path(), default=None,
              help="PNG of the sprite's size: white (or, with transparency, opaque) = redraw.")
@click.option("--region", default=None, metavar="X,Y,W,H",
              help="Or a rectangle to redraw, in the sprite's pixels (origin top left).")
@click.option("--jumps", type=click.IntRange(0, 50), default=2, show_default=True,
              help="RePaint resampling: each segment is noised back and redone this many times.")
@click.option("--jump-length", type=click.IntRange(1, 10000), default=None,
              help="Steps per resampling segment (default: a fifth of the steps).")
@edit_options
def inpaint(sprite, mask, region, jumps, jump_length, **kw):
    """Redraw the --mask or --region part of SPRITE; every other pixel stays as it is.

    RePaint-style: the known part is blended in at every step, with resampling jumps. In latent
    mode the mask is taken to the latent grid and the result composited onto the input.
    """
    from ldm_sprites.diffusion.edit_inputs import fit_mask, load_inputs, parse_region, read_mask
    from ldm_sprites.diffusion.editing import (default_jump_length, executed_timesteps,
                                               inpaint_sprites)

    if (mask is None) == (region is None):
        raise click.UsageError("give the region to redraw: --mask MASK.png or --region x,y,w,h")
    job = _Job(kw)
    inp = load_inputs(job.pipe, [sprite])[0]
    h, w = inp.original.shape[:2]
    raw = parse_region(region, w, h) if region is not None else read_mask(mask, w, h)
    redo = fit_mask(raw, inp, f"--region {region}" if region is not None else mask)
    ts = job.opts.timesteps(job.pipe.schedule)
    job.prepare_outputs(executed_timesteps(ts, jumps, jump_length or default_jump_length(len(ts))),
                        kw["num"])
    result = inpaint_sprites(job.pipe, inp, mask=raw, num=kw["num"], jumps=jumps,
                             jump_length=jump_length, **job.edit_kwargs())
    rows = [[inp.fitted, mask_preview(inp.fitted, redo), *result.sprites]]
    job.write(result, rows, "inpainting", {"jumps": jumps, "redrawn_pixels": int(redo.sum())})


def mask_preview(rgba, redo):
    """The input with the region to redraw tinted magenta (for the grid)."""
    import numpy as np

    out = rgba.copy()
    tint = np.array([255, 0, 255], np.uint16)
    out[..., :3][redo] = ((out[..., :3][redo].astype(np.uint16) + tint) // 2).astype(np.uint8)
    out[..., 3][redo] = np.maximum(out[..., 3][redo], 160)
    return out
