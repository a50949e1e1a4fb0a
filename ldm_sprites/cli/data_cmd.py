"""``ldmsprites demo-data``: write the procedural demo sprite set."""

from __future__ import annotations

import click


@click.command(
    "demo-data", short_help="Write the procedural demo sprite set (PNG + metadata.csv)."
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, dir_okay=True, writable=False),
    help="Output folder; receives images/<class>-<index>.png and metadata.csv.",
)
@click.option(
    "--num-per-class",
    type=click.IntRange(min=1),
    default=250,
    show_default=True,
    help="Sprites drawn for each class.",
)
@click.option(
    "--size",
    type=click.Choice(["16", "32", "64"]),
    default="32",
    show_default=True,
    help="Sprite width and height in pixels.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same sprites.")
def demo_data(out: str, num_per_class: int, size: str, seed: int) -> None:
    """Write the procedural demo sprite set (PNG + metadata.csv).

    Six classes of tiny pixel-art creatures (fire, water, grass, electric, ice, ghost) in the
    Hugging Face imagefolder layout: OUT/images/*.png and OUT/metadata.csv with the columns
    file_name, type (the class) and shape (the body shape drawn). Deterministic by --seed.
    """
    from ldm_sprites.demo_art import DEMO_CLASSES, write_demo_set
    from ldm_sprites.fsutil import ensure_dir

    out_dir = ensure_dir(out)
    write_demo_set(out_dir, n_per_class=num_per_class, size=int(size), seed=seed, progress=True)
    total = num_per_class * len(DEMO_CLASSES)
    click.echo(
        f"Wrote {total} sprites ({len(DEMO_CLASSES)} classes x {num_per_class}, "
        f"{size}x{size}) to {out_dir}/images and {out_dir}/metadata.csv"
    )
