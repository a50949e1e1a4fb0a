"""Encode a whole data set once and cache the latents (latent-mode diffusion training).

The cache file name hashes the decoded image bytes, the autoencoder's content hash and the flip
setting, so any change to the data or to the autoencoder gives a new file, while later runs on the
same data reuse it and never run the encoder. Files are written atomically (a killed run leaves no
torn cache), filled batch by batch and opened as memory maps (``data/mapped.py``), so neither
encoding nor training holds all latents in anonymous memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch

from ldm_sprites.console import info, progress, warn
from ldm_sprites.data.tensors import rgba_uint8_to_model
from ldm_sprites.errors import UserError

LATENT_CACHE_VERSION = 1


@torch.no_grad()
def iter_batches(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, channels: int,
                 device, batch_size: int = 128, flip: bool = False, desc: str | None = None,
                 shift: tuple[int, int] = (0, 0)):
    """Yield ``(start, fn(batch))`` over uint8 sprites (N, 4, H, W) in model space, batch by
    batch, on ``device`` (``flip`` mirrors them first, ``shift`` then rolls them by (dy, dx)
    pixels with wrap-around); results are float32 on the CPU."""
    starts = range(0, images.shape[0], batch_size)
    for i in progress(starts, desc=desc, unit="batch", leave=False, disable=True if not desc else None):
        x = rgba_uint8_to_model(images[i:i + batch_size].to(device), channels)
        if flip:
            x = x.flip(-1)
        if tuple(shift) != (0, 0):
            x = x.roll(tuple(shift), dims=(-2, -1))
        yield i, fn(x).float().cpu()


def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, channels: int,
                device, batch_size: int = 128, flip: bool = False, desc: str | None = None,
                shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """``iter_batches``, concatenated."""
    return torch.cat([out for _, out in iter_batches(fn, images, channels, device, batch_size,
                                                      flip, desc, shift)])


def wrap_views(downsample: int, flip: bool) -> list[tuple[bool, tuple[int, int]]]:
    """The (mirrored, (dy, dx)) views ``encode_dataset(wrap=True)`` encodes: each orientation
    at every sub-cell phase 0 <= dy, dx < downsample. A tile encoded as it repeats at phase
    (a, b) and rolled by (qy, qx) latent cells is the latent of the tile shifted by
    (f qy + a, f qx + b) pixels, so these views and whole-cell rolls give every circular shift."""
    f = max(1, int(downsample))
    return [(m, (a, b)) for m in ([False, True] if flip else [False])
            for a in range(f) for b in range(f)]


def latent_cache_key(images: torch.Tensor, ae_hash: str, flip: bool, wrap: bool = False,
                     phases: bool = True) -> str:
    h = hashlib.sha256()
    h.update(f"v{LATENT_CACHE_VERSION}|{ae_hash}|flip={bool(flip)}|{tuple(images.shape)}|".encode())
    if wrap:
        h.update(b"wrap=xy|" if phases else b"wrap=xy|phase0|")
    for i in range(0, images.shape[0], 4096):   # chunks: no full copy of a memory-mapped set
        h.update(images[i:i + 4096].contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def encode_dataset(autoencoder, data, cache_dir: str | Path | None = None,
                   flip: bool = True, wrap: bool = False, phases: bool = True) -> torch.Tensor:
    """Scaled latents of ``data`` (a ``SpriteData``): (2, N, C, h, w) float32 with flip (index 1 =
    the mirrored sprites, encoded separately rather than mirroring latents: a conv encoder is not
    exactly flip-equivariant, and a VQ/FSQ code need not be), else (1, N, C, h, w).

    ``wrap`` (tiles, ``data.circular_shift``): every view of ``wrap_views`` — each orientation at
    every sub-cell phase — encoded as the tile repeats (circularly padded convs): (V, N, C, h, w).
    ``phases=False`` (``model.wrap_condition``, which keeps the tile's phase): each orientation
    at phase (0, 0) only, still encoded as it repeats — the latent that wrapped decoding inverts."""
    from ldm_sprites.data.dataset import default_cache_dir
    from ldm_sprites.data.mapped import map_safetensors

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = latent_cache_key(data.images, autoencoder.reference()["hash"], flip, wrap, phases)
    cache_file = cache_dir / f"latents-{key}.safetensors"
    # f = 1: phase (0, 0) only
    views = wrap_views(autoencoder.downsample if wrap and phases else 1, flip)
    n_views = len(views)
    if cache_file.is_file():
        try:
            latents = map_safetensors(cache_file)[0]["latents"]
            if latents.shape[:2] == (n_views, len(data)):
                info(f"latents loaded from cache {cache_file.name}")
                return latents
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt, never fatal
            pass
        warn(f"latent cache {cache_file.name} is unreadable; encoding again")
    channels, device = autoencoder.data_spec.channels, autoencoder.device
    encode = (lambda x: autoencoder.encode(x, wrap="xy")) if wrap else autoencoder.encode
    try:
        latents = _encode_to_file(encode, autoencoder, data.images, cache_file, views)
        n_phases = autoencoder.downsample ** 2 if wrap and phases else 1
        what = (f"{n_views} views ({n_views // n_phases} orientation(s) x {n_phases} sub-cell "
                "phases), as tiles") if wrap and phases else \
            f"{n_views} orientation(s)" + (", as tiles" if wrap else "")
        info(f"encoded {len(data)} sprites x {what} -> "
             f"{tuple(latents.shape[2:])} latents, cached as {cache_file.name}")
        return latents
    except (OSError, UserError) as exc:  # caching is an optimisation
        msg = exc.message if isinstance(exc, UserError) else str(exc)
        warn(f"could not write the latent cache ({msg}); sprites will be encoded again next time")
    out = [map_batches(encode, data.images, channels, device, flip=mirrored, shift=shift)
           for mirrored, shift in views]
    return torch.stack(out).contiguous()


def _encode_to_file(encode, autoencoder, images: torch.Tensor, cache_file: Path,
                    views) -> torch.Tensor:
    """Encode every (mirrored, shift) view into the cache file batch by batch (written
    atomically), then map it."""
    import numpy as np

    from ldm_sprites.data.mapped import create_safetensors, map_safetensors
    from ldm_sprites.fsutil import atomic_path

    channels, device = autoencoder.data_spec.channels, autoencoder.device
    n_views = len(views)
    with atomic_path(cache_file) as tmp:
        out = None
        for v, (mirrored, shift) in enumerate(views):
            for i, z in iter_batches(encode, images, channels, device, flip=mirrored, shift=shift,
                                     desc="encoding mirrored sprites" if mirrored
                                     else "encoding sprites"):
                if out is None:   # the first batch tells the latent shape
                    out = create_safetensors(
                        tmp, {"latents": (np.float32, (n_views, images.shape[0], *z.shape[1:]))},
                        metadata={"ae": autoencoder.reference()["hash"]})["latents"]
                out[v, i:i + len(z)] = z.numpy()
        out.flush()
        del out
    return map_safetensors(cache_file)[0]["latents"]
