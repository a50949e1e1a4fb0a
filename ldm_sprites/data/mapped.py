"""Safetensors files as memory maps: data sets larger than RAM, and no copy of a cache in RAM.

``safetensors.torch.load_file`` reads a whole file into anonymous memory. The caches of this
project (decoded sprites, latents) are instead opened with :func:`map_safetensors`: every tensor
is a copy-on-write ``numpy.memmap`` of its bytes in the file, so only the pages a batch touches
are read, they count as file-backed (reclaimable page cache, ``RssFile``) rather than anonymous
memory (``RssAnon``), and an in-place write can never change the file. :func:`create_safetensors`
writes a file of known shapes whose tensors are filled in place, batch by batch, so building a
cache never holds it in memory either. Both speak the plain safetensors format.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch

_DTYPES = {"U8": np.uint8, "I64": np.int64, "F32": np.float32, "F16": np.float16,
           "I32": np.int32, "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


def map_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file, each tensor a copy-on-write memory map."""
    path = str(path)
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, h in header.items():
        dtype = _DTYPES[h["dtype"]]
        shape = tuple(h["shape"])
        begin, end = h["data_offsets"]
        if end == begin:   # numpy cannot map zero bytes
            tensors[name] = torch.from_numpy(np.zeros(shape, dtype))
            continue
        arr = np.memmap(path, dtype=dtype, mode="c", offset=8 + n + begin, shape=shape)
        tensors[name] = torch.from_numpy(arr)
    return tensors, metadata


def create_safetensors(path: str | Path, specs: dict[str, tuple[np.dtype, tuple[int, ...]]],
                       metadata: dict[str, str] | None = None) -> dict[str, np.memmap]:
    """Create ``path`` holding zero-filled tensors of the given ``(dtype, shape)`` and return
    writable memory maps of them; fill them, then ``flush()`` each (or just drop them)."""
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, (dtype, shape) in specs.items():
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        header[name] = {"dtype": _CODES[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)   # the format aligns the data to 8 bytes
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        fh.truncate(8 + len(raw) + offset)
    out = {}
    for name, (dtype, shape) in specs.items():
        begin, end = header[name]["data_offsets"]
        if end > begin:
            out[name] = np.memmap(path, dtype=dtype, mode="r+", offset=8 + len(raw) + begin,
                                  shape=tuple(shape))
        else:
            out[name] = np.zeros(shape, dtype)
    return out


def chunked_abs_max(x: torch.Tensor, dim: int = 0, chunk: int = 4096) -> float:
    """``x.abs().max()`` without a full-size temporary (``x`` may be a memory map)."""
    best = 0.0
    for i in range(0, x.shape[dim], chunk):
        best = max(best, float(x.narrow(dim, i, min(chunk, x.shape[dim] - i)).abs().max()))
    return best
