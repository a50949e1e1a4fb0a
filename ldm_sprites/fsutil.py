"""Filesystem helpers: atomic writes and output directories that fail with a clear message."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from ldm_sprites.errors import UserError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) and check it is writable; raise UserError otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"cannot create directory {path}: a file with that name exists") from None
    except OSError as exc:
        raise UserError(f"cannot create directory {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {path}: permission denied (choose another --out)")
    return path


def describe_os_error(path: str | os.PathLike | None, exc: OSError) -> str:
    """One actionable line for a failed write: what could not be written, why, what to do."""
    path = path or exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {path}: no space left on device (free some space and run again)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied (choose another output location)"
    if exc.errno == errno.EROFS:
        return f"cannot write {path}: read-only file system (choose another output location)"
    return f"cannot write {path}: {exc.strerror or exc}"


def write_synced(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (for files inside a directory that is renamed into
    place afterwards). Errors are plain ``OSError`` with errno, whatever wrote the bytes."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    A crash or kill at any moment leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; outputs should get the permissions of a normal new file.
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise UserError(describe_os_error(path, exc)) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_image(path: str | os.PathLike, image, **save_kwargs) -> Path:
    """Save a PIL image atomically; the format comes from the suffix of ``path``."""
    path = Path(path)
    fmt = {".png": "PNG", ".gif": "GIF", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(
        path.suffix.lower(), "PNG"
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt, **save_kwargs)
    return path


def replace_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written directory into place (rename is atomic for a new name)."""
    if final_dir.exists():
        old = final_dir.with_name(final_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final_dir, old)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)
