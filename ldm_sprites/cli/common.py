"""Options and helpers shared by several commands."""

from __future__ import annotations

import click

device_option = click.option(
    "--device", default=None, metavar="DEVICE",
    help="cpu or cuda (default: cuda when available, else cpu).")
seed_option = click.option("--seed", type=int, default=None, help="Random seed (default 0).")


def split_names(values: tuple[str, ...]) -> list[str]:
    """``--class fire --class water,ice`` -> ['fire', 'water', 'ice']."""
    out = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out
