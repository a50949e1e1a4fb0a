"""How pixels become tensors: the one ``DataSpec`` every stage, model directory and command uses.

Both stages' ``data:`` config sections *are* ``DataSpec``s (subclasses adding their augmentation
settings), a model directory saves one in its ``config.json``, and ``DataSpec.from_config``
reads it back — from any model, old ones included — so that evaluation, visualisation and the
second stage decode images exactly as the model's training did.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ldm_sprites.config_loader import bounded, choice


def size_field(default: int):
    """``size``: the square sprites are fitted into (each stage has its own default)."""
    return bounded(default, ge=8, le=512, name="--size", hint="(pixels)")


@dataclass
class DataSpec:
    """How images become training tensors. Saved with every model."""

    size: int = size_field(32)
    channels: int = choice(4, 3, 4)
    resample: str = choice("nearest", "nearest", "area", "lanczos")  # pixel art: never blurred
    background: str = "#ffffff"   # composite colour; only used when channels == 3
    label_column: str | None = None

    @classmethod
    def from_config(cls, data: dict | None, **overrides) -> "DataSpec":
        """The spec of a saved config's ``data`` section (a ``config.json``'s or a config's
        ``asdict``); keys it lacks (older model directories) take the defaults, keys that are not
        part of the spec (flip, holdout, ...) are ignored. ``overrides`` that are not None win,
        e.g. ``label_column=`` from the command line."""
        names = [f.name for f in fields(DataSpec)]
        values = {k: v for k, v in (data or {}).items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        spec = DataSpec(**values)
        spec.size, spec.channels = int(spec.size), int(spec.channels)
        return spec

    def spec(self) -> "DataSpec":
        """Just the spec (a stage's data section without its augmentation settings)."""
        return DataSpec(**{f.name: getattr(self, f.name) for f in fields(DataSpec)})
