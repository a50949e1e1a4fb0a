"""``ldmsprites info``: what a model is, what it draws, how it samples and its palette."""

from __future__ import annotations

import click

from ldm_sprites.cli.common import MODEL_HELP


SHOWN_COLORS = 64   # a 1,024-colour palette is a swatch's job (--swatch), not a screenful of hex


def _palette_lines(pal, per_line: int = 8) -> list[str]:
    hexes = ["#{:02x}{:02x}{:02x}".format(*c) for c in pal.colors[:SHOWN_COLORS].tolist()]
    lines = ["  " + " ".join(hexes[i:i + per_line]) for i in range(0, len(hexes), per_line)]
    if len(pal.colors) > SHOWN_COLORS:
        lines.append(f"  ... {len(pal.colors) - SHOWN_COLORS} more, most used first "
                     "(palette.hex, or --swatch FILE.png)")
    return lines


def _tiles_line(cfg: dict) -> str | None:
    """How a model was trained for seamless tiles, and the flag that asks for them."""
    if cfg.get("kind") != "diffusion":
        return None
    if cfg.get("model", {}).get("wrap_condition"):
        how = "trained told which tiles wrap (--wrap-condition)"
    elif cfg.get("data", {}).get("circular_shift"):
        how = "trained on circular shifts (--circular-shift)"
    else:
        return None
    return f"{how}; generate --tileable [xy|x|y] draws tiles that repeat (docs/tiles.md)"


def _decoder_line(md) -> str | None:
    """What the autoencoder's decoder outputs (an autoencoder, or a latent model's), from its
    config alone; None for pixel models and autoencoders that cannot be read."""
    from ldm_sprites.autoencoder.handle import recorded_autoencoder_path
    from ldm_sprites.errors import UserError
    from ldm_sprites.modeldir import load_model_dir

    cfg = md.config
    if cfg.get("kind") == "diffusion":
        path = recorded_autoencoder_path(md)
        if not path:
            return None
        try:
            cfg = load_model_dir(path).config
        except UserError:   # moved or damaged: the rest of `info` still applies
            return None
    model = cfg.get("model") or {}
    if model.get("output", "rgb") == "palette":
        return (f"palette ({len(model.get('palette') or [])} colours + transparent per pixel: "
                "hard alpha, in-palette raw output)")
    return "rgb (regresses colour; finishing snaps it to the palette)"


@click.command("info")
@click.option("--model", "model_dir", default=None, type=click.Path(),
              help=MODEL_HELP)
@click.option("--swatch", type=click.Path(dir_okay=False), default=None,
              help="Write the palette as a PNG swatch (16 px squares, 16 a row, most used first).")
def info(model_dir, swatch):
    """Show a model's kind, classes, sampling defaults and palette."""
    from ldm_sprites.finish import from_model_dir
    from ldm_sprites.finish.palette_files import swatch_image
    from ldm_sprites.fsutil import atomic_save_image
    from ldm_sprites.modeldir import load_model_dir
    from ldm_sprites.runtime import model_path

    md = load_model_dir(model_path(model_dir))
    cfg = md.config
    data = cfg.get("data", {})
    click.echo(f"model:    {md.path}")
    kind = cfg.get("kind", "?")
    if kind == "diffusion":
        kind += f" ({cfg.get('space', 'pixel')} space" + (", autoencoder " + str(cfg["ae"].get("path"))
                                                          if cfg.get("ae") else "") + ")"
    click.echo(f"kind:     {kind}, trained {cfg.get('step', '?')} steps")
    decoder = _decoder_line(md)
    if decoder:
        click.echo(f"decoder:  {decoder}")
    if data:
        click.echo(f"sprites:  {data.get('size')}x{data.get('size')}, {data.get('channels')} channels")
    click.echo(f"classes:  {', '.join(md.classes) if md.classes else '(unconditional)'}")
    tiles = _tiles_line(cfg)
    if tiles:
        click.echo(f"tiles:    {tiles}")
    credits = md.path / "CREDITS.md"
    if credits.is_file():   # bundled models of other people's art say whose it is
        first = credits.read_text(encoding="utf-8").strip().splitlines()[0].lstrip("# ")
        click.echo(f"credits:  {first} ({credits.name})")
    if kind.startswith("diffusion"):
        from dataclasses import asdict

        from ldm_sprites.diffusion.config import read_saved
        from ldm_sprites.diffusion.guide import carries_guide

        # What it samples with: the saved section, the schema's values where it says nothing.
        saved = read_saved(cfg, f"{md.path}/config.json")
        click.echo("sampling: " + ", ".join(f"{k} {v}" for k, v in
                                             sorted(asdict(saved.sample).items())))
        click.echo("guide:    " + (f"the EMA at step {saved.guide.step or '?'} (autoguidance)"
                                   if carries_guide(md) else "none (autoguidance off)"))
    pal = from_model_dir(md.path)
    if pal is None:
        click.echo("palette:  none saved (no palette.json); finishing computes "
                   "one from the generated sprites")
        if swatch:
            from ldm_sprites.errors import UserError

            raise UserError(f"{md.path} has no palette to write as --swatch")
        return
    outline = "none" if pal.outline_color is None else "#{:02x}{:02x}{:02x}".format(*pal.outline_color)
    alpha = (f"{len(pal.soft)} soft colours (shadows, glows: alpha kept)" if len(pal.soft)
             else f"hard alpha, cut {pal.alpha_threshold}")
    click.echo(f"palette:  {len(pal.colors)} colours ({pal.source}); {pal.colors_per_sprite} per "
               f"sprite (90th percentile), {alpha}, outline {outline}")
    for line in _palette_lines(pal):
        click.echo(line)
    if swatch:
        atomic_save_image(swatch, swatch_image(pal.colors))
        click.echo(f"swatch:   {swatch}")
