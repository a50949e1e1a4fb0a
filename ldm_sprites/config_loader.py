"""YAML configs -> typed dataclasses, with safe loading and helpful errors for typos.

The generic half of every config, used by both stages' schemas (``diffusion/config.py``,
``autoencoder/config.py``): a config file has one mapping per section; any key left out takes the
dataclass default, and command-line options override the file. Unknown keys are errors (with the
closest valid name), so a typo never silently trains the wrong thing.

A schema declares its value checks on the fields themselves: ``choice(default, *options)`` and
``bounded(default, ge=..., lt=...)`` put them in the field's metadata, and every way in — a YAML
file (``load_config``), a saved ``config.json`` (``from_saved``), an override (``apply_overrides``)
or a dataclass built in code (``check_values``) — runs the same checks. Checks between fields
(``--size`` divisible by ``--downsample``) stay with the schema.
"""

from __future__ import annotations

import dataclasses
import difflib
import operator
import types
import typing
from pathlib import Path

from ldm_sprites.errors import UserError


def choice(default, *options):
    """A field whose value must be one of ``options``."""
    return dataclasses.field(default=default, metadata={"choices": options})


def bounded(default, *, ge=None, gt=None, le=None, lt=None, name: str | None = None,
            hint: str = ""):
    """A field with a range: ``ge``/``gt`` below, ``le``/``lt`` above (None: open).

    ``name`` is how the error calls the value (a command-line flag such as ``--steps``; default:
    the dotted config key), ``hint`` what follows the range in the error."""
    return dataclasses.field(default=default, metadata={
        "bounds": {"ge": ge, "gt": gt, "le": le, "lt": lt}, "name": name, "hint": hint})


def _range_text(b: dict) -> str:
    lo = b["ge"] if b["ge"] is not None else b["gt"]
    hi = b["le"] if b["le"] is not None else b["lt"]
    if hi is None and b["ge"] is not None:
        return f"must be at least {lo}" if lo else "must be >= 0"
    left, right = "[" if b["ge"] is not None else "(", "]" if b["le"] is not None else ")"
    return (f"is out of range {left}{'-inf' if lo is None else lo}, "
            f"{'inf' if hi is None else hi}{right}")


def _outside(b: dict, value) -> bool:
    tests = ((b["ge"], operator.lt), (b["gt"], operator.le), (b["le"], operator.gt),
             (b["lt"], operator.ge))
    return any(limit is not None and beyond(value, limit) for limit, beyond in tests)


def _check_field(f: dataclasses.Field, value, path: str) -> None:
    allowed = f.metadata.get("choices")
    if allowed and value not in allowed:
        raise UserError(f"config {path}: {value!r} is not one of {', '.join(map(str, allowed))}")
    b = f.metadata.get("bounds")
    if b is not None and value is not None and _outside(b, value):
        hint = f" {f.metadata['hint']}" if f.metadata.get("hint") else ""
        raise UserError(f"{f.metadata.get('name') or path} {value} {_range_text(b)}{hint}")


def check_values(cfg, where: str = ""):
    """Run every field's declared checks (choices, ranges) over a config tree; returns ``cfg``."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        path = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value):
            check_values(value, path)
        else:
            _check_field(f, value, path)
    return cfg


def _coerce(value, typ, where: str):
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        if value is None and type(None) in args:
            return None
        typ = next(a for a in args if a is not type(None))
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config {where}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise UserError(f"config {where}: expected a whole number, got {value!r}")
        return int(value)
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UserError(f"config {where}: expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise UserError(f"config {where}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"config {where}: expected text, got {value!r}")
        return str(value)
    return value


def _section_type(typ):
    """The dataclass a field holds (a section, or an optional one: ``Section | None``), else None."""
    if dataclasses.is_dataclass(typ):
        return typ
    if typing.get_origin(typ) in (typing.Union, getattr(types, "UnionType", None)):
        inner = [a for a in typing.get_args(typ) if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return None


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass ``cls`` from a (possibly partial) nested dict, checking names, types and
    each field's declared choices and range."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"config {where or 'file'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in by_name:
            names = list(by_name)
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"config: unknown key '{where + '.' if where else ''}{key}'{hint}; "
                            f"valid keys: {', '.join(names)}")
        typ = hints[key]
        path = f"{where}.{key}" if where else key
        section = _section_type(typ)
        if section is not None:
            # An optional section saved as null stays None.
            kwargs[key] = None if value is None and section is not typ else \
                from_dict(section, value, path)
        else:
            kwargs[key] = _coerce(value, typ, path)
            _check_field(by_name[key], kwargs[key], path)
    return cls(**kwargs)


def from_saved(cls, saved: dict):
    """The typed config of a model directory's ``config.json``: its sections that ``cls`` has
    (the other top-level keys — kind, step, classes, ... — belong to the model directory).
    Keys an older directory lacks take the schema's defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return from_dict(cls, {k: v for k, v in saved.items() if k in names})


def load_yaml(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist (see configs/ for examples)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # safe: no object construction
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML: {first}") from None
    return data or {}


def load_config(path: str | Path | None, cls):
    """The YAML file at ``path`` as a ``cls`` (its defaults without a file)."""
    return from_dict(cls, load_yaml(path) if path else {})


def apply_overrides(cfg, overrides: dict):
    """Set dotted keys (``"train.steps": 100``) whose value is not None; validates like the file."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, key = dotted.split(".")
        sec = getattr(cfg, section)
        typ = typing.get_type_hints(type(sec))[key]
        value = _coerce(value, typ, dotted)
        _check_field(next(f for f in dataclasses.fields(sec) if f.name == key), value, dotted)
        setattr(sec, key, value)
    return cfg


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)
