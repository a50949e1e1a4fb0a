"""A trained model is a directory: ``config.json`` + safetensors weights (+ train state).

One function saves it, one loads it (diffusers style). Layout::

    config.json          what was trained and how (kind, architecture, schedule, data spec, ...)
    classes.json         class names, id order
    model.safetensors    raw weights
    ema.safetensors      EMA weights (used for sampling by default)
    train_state.pt       optimiser/scheduler/RNG/step, only for --resume (tensors + plain data,
                         loaded with ``torch.load(weights_only=True)``: it cannot run code)

Writing is all-or-nothing: files go to ``<dir>.tmp`` and the directory is renamed into place.
``config.json`` records the sha256 of every other file written with it (``files``, format 2), and
each is checked when it is read, so a damaged or swapped file (weights, guide, train state) is an
error instead of wrong sprites. A directory of a newer format than this package reads is refused.
A training run keeps its checkpoints as ``<run>/checkpoints/step-XXXXXXXX/`` model directories, so
``--model <run>`` resolves to the newest complete checkpoint; a half-written one is never chosen.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ldm_sprites.errors import UserError
from ldm_sprites.fsutil import describe_os_error, ensure_dir, replace_dir, write_synced

# 1: no file hashes (read without checks); 2: config.json records every file's sha256 ("files").
FORMAT_VERSION = 2
CONFIG = "config.json"
FILES = "files"        # config key: file name -> sha256 hex of the file as written
CLASSES = "classes.json"
TRAIN_STATE = "train_state.pt"
CKPT_RE = re.compile(r"^step-(\d{8})$")


@dataclass
class ModelDir:
    path: Path
    config: dict
    classes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.config.get("kind", "?")

    def read_bytes(self, name: str) -> bytes:
        """The file ``name`` of this directory, checked against the hash ``config.json`` records
        for it (format 2; format 1 recorded none). A changed, damaged or unrecorded file is an
        error: a model must not sample with parts it was not written with."""
        f = self.path / name
        data = f.read_bytes()
        recorded = self.config.get(FILES)
        if recorded is None:          # format 1
            return data
        want = recorded.get(name)
        if want is None:
            raise UserError(f"{f} is not one of the files {self.path / CONFIG} records (added "
                            "after the model was written?); remove it or copy the model again")
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise UserError(f"{f} is damaged or was changed: its sha256 is {got[:16]}, "
                            f"{CONFIG} records {want[:16]}; copy the model again")
        return data

    def weights(self, name: str = "ema") -> dict[str, torch.Tensor]:
        """Load ``<name>.safetensors`` (falls back from ema to model when no EMA was saved),
        checked against its recorded hash."""
        from safetensors.torch import load

        f = self.path / f"{name}.safetensors"
        if not f.is_file() and name == "ema":
            f = self.path / "model.safetensors"
        if not f.is_file():
            raise UserError(f"{self.path} has no {f.name}; the model directory is incomplete "
                            "(copy it again or train it again)")
        data = self.read_bytes(f.name)
        try:
            return load(data)
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types
            raise UserError(f"{f} is damaged ({type(exc).__name__}: {exc}); "
                            "copy the model again or use an earlier checkpoint") from None

    def load_into(self, model: torch.nn.Module, name: str = "ema") -> torch.nn.Module:
        """Load the ``name`` weights into ``model`` (built from this config) and return it; a
        model that does not match them is an error naming this directory."""
        missing, unexpected = model.load_state_dict(self.weights(name), strict=False)
        if missing or unexpected:
            raise UserError(f"{self.path}: weights do not match the config "
                            f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
        return model

    def train_state(self) -> dict | None:
        f = self.path / TRAIN_STATE
        if not f.is_file():
            return None
        data = self.read_bytes(TRAIN_STATE)
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # weights_only refused an object: it could have run code
            raise UserError(f"{f} holds objects other than tensors and plain data; refused to load "
                            "it (it could run code). Resume only runs you trained yourself") from None
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{f} is damaged ({type(exc).__name__}); cannot resume from it") from None

    def content_hash(self) -> str:
        """sha256 over the config and weights: identifies exactly this model (e.g. an AE)."""
        return hash_model_dir(self.path)


def hash_model_dir(path: Path) -> str:
    h = hashlib.sha256()
    for name in (CONFIG, "model.safetensors", "ema.safetensors"):
        f = Path(path) / name
        if f.is_file():
            h.update(name.encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def save_model_dir(path: str | Path, config: dict, weights: dict[str, dict[str, torch.Tensor]],
                   classes: list[str] | None = None, train_state: dict | None = None,
                   extra_files: dict[str, bytes] | None = None, fp16: bool = False) -> Path:
    """Write a complete model directory atomically. ``weights`` maps file stem -> state dict;
    ``fp16`` stores their floating-point tensors as float16 (half the size: bundled models)."""
    from safetensors.torch import save as safetensors_bytes

    path = Path(path)
    ensure_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # Everything is serialised in memory and written with plain file I/O, so a full disk or a
    # permission problem is an OSError with errno (safetensors' and torch's own writers report it
    # as SafetensorError / RuntimeError), and every file is fsynced before the rename.
    files = {CLASSES: (json.dumps(list(classes or []), indent=2) + "\n").encode()}
    for stem, sd in weights.items():
        sd = {k: (v.half() if fp16 and v.is_floating_point() else v).detach().contiguous().cpu()
              for k, v in sd.items()}
        files[f"{stem}.safetensors"] = safetensors_bytes(sd, metadata={"format": "pt"})
    if train_state is not None:
        buf = io.BytesIO()
        torch.save(train_state, buf)
        files[TRAIN_STATE] = buf.getvalue()
    files.update(extra_files or {})
    # What the caller's config says of versions and files describes what it was read from.
    cfg = {k: v for k, v in config.items() if k not in ("format_version", FILES)}
    cfg.update(format_version=FORMAT_VERSION,
               **{FILES: {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}})
    try:
        tmp.mkdir(parents=True)
        for name, data in files.items():
            write_synced(tmp / name, data)
        write_synced(tmp / CONFIG, (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode())
        replace_dir(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(describe_os_error(path, exc)) from None
    return path


def list_checkpoints(run_dir: Path) -> list[Path]:
    ck = Path(run_dir) / "checkpoints"
    if not ck.is_dir():
        return []
    found = [p for p in ck.iterdir() if p.is_dir() and CKPT_RE.match(p.name)
             and (p / CONFIG).is_file()]
    return sorted(found, key=lambda p: p.name)


def resolve_model_dir(path: str | Path) -> Path:
    """A model directory itself, or a training run whose newest complete checkpoint is used."""
    from ldm_sprites.runtime import bundled_names, model_path

    path = Path(model_path(str(path)))
    if not path.exists():
        raise UserError(f"model directory {path} does not exist (train one with "
                        "'ldmsprites train-diffusion', or name a bundled model: "
                        f"{', '.join(bundled_names())})")
    if (path / CONFIG).is_file():
        return path
    ckpts = list_checkpoints(path)
    if ckpts:
        return ckpts[-1]
    raise UserError(f"{path} is not a model directory: no config.json and no checkpoints/ "
                    "(is training still at step 0, or is this the wrong folder?)")


def load_model_dir(path: str | Path, expect_kind: str | None = None) -> ModelDir:
    path = resolve_model_dir(path)
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or not UTF-8
        raise UserError(f"{path / CONFIG} is unreadable ({exc}); the model directory is damaged") from None
    if not isinstance(config, dict):
        raise UserError(f"{path / CONFIG} is not a model config")
    md = ModelDir(path, config)
    _check_format(md)
    # The small files (palette, ...) are checked now; weights and the train state as they are read.
    for name in md.config.get(FILES, {}):
        if name != CLASSES and not name.endswith((".safetensors", ".pt")) \
                and (path / name).is_file():
            md.read_bytes(name)
    if expect_kind and config.get("kind") != expect_kind:
        raise UserError(f"{path} holds a '{config.get('kind')}' model, not a '{expect_kind}' model")
    if (path / CLASSES).is_file():
        try:
            classes = json.loads(md.read_bytes(CLASSES).decode("utf-8"))
        except (OSError, ValueError):
            classes = None
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise UserError(f"{path / CLASSES} is damaged (expected a JSON list of class names); "
                            "copy the model again") from None
        md.classes = classes
    return md


def _check_format(md: ModelDir) -> None:
    """Refuse a directory of a newer format than this package reads (its files may mean other
    things), and a format-2 one whose file hashes are gone."""
    from ldm_sprites import __version__

    version = md.config.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"{md.path / CONFIG} has no valid format_version ({version!r}); "
                        "the model directory is damaged")
    if version > FORMAT_VERSION:
        raise UserError(f"{md.path} is model format {version}, but ldm-sprites {__version__} reads "
                        f"formats up to {FORMAT_VERSION}; upgrade ldm-sprites "
                        "(pip install -U ldm-sprites)")
    files = md.config.get(FILES)
    if (version >= 2 or files is not None) and not (isinstance(files, dict)
                             and all(isinstance(h, str) for h in files.values())):
        raise UserError(f"{md.path / CONFIG} records no file hashes ('{FILES}'), which format "
                        f"{version} always has; the model directory is damaged, copy it again")


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (at least one is always kept)."""
    for old in list_checkpoints(run_dir)[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
