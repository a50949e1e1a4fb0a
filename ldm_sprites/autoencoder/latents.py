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
                 device, batch_size: int = 128, flip: bool = False, desc: str | None = None):
    """Yield ``(start, fn(batch))`` over uint8 sprites (N, 4, H, W) in model space, batch by
    batch, on ``device`` (``flip`` mirrors them first); results are float32 on the CPU."""
    starts = range(0, images.shape[0], batch_size)
    for i in progress(starts, desc=desc, unit="batch", leave=False, disable=True if not desc else None):
        x = rgba_uint8_to_model(images[i:i + batch_size].to(device), channels)
        if flip:
            x = x.flip(-1)
        yield i, fn(x).float().cpu()


def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, channels: int,
                device, batch_size: int = 128, flip: bool = False, desc: str | None = None,
                ) -> torch.Tensor:
    """``iter_batches``, concatenated."""
    return torch.cat([out for _, out in iter_batches(fn, images, channels, device, batch_size,
                                                      flip, desc)])


def latent_cache_key(images: torch.Tensor, ae_hash: str, flip: bool) -> str:
    h = hashlib.sha256()
    h.update(f"v{LATENT_CACHE_VERSION}|{ae_hash}|flip={bool(flip)}|{tuple(images.shape)}|".encode())
    for i in range(0, images.shape[0], 4096):   # chunks: no full copy of a memory-mapped set
        h.update(images[i:i + 4096].contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def encode_dataset(autoencoder, data, cache_dir: str | Path | None = None,
                   flip: bool = True) -> torch.Tensor:
    """Scaled latents of ``data`` (a ``SpriteData``): (2, N, C, h, w) float32 with flip (index 1 =
    the mirrored sprites, encoded separately rather than mirroring latents: a conv encoder is not
    exactly flip-equivariant, and a VQ/FSQ code need not be), else (1, N, C, h, w)."""
    from ldm_sprites.data.dataset import default_cache_dir
    from ldm_sprites.data.mapped import map_safetensors

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = latent_cache_key(data.images, autoencoder.reference()["hash"], flip)
    cache_file = cache_dir / f"latents-{key}.safetensors"
    n_views = 2 if flip else 1
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
    try:
        latents = _encode_to_file(autoencoder, data.images, cache_file, flip)
        info(f"encoded {len(data)} sprites x {n_views} orientation(s) -> "
             f"{tuple(latents.shape[2:])} latents, cached as {cache_file.name}")
        return latents
    except (OSError, UserError) as exc:  # caching is an optimisation
        msg = exc.message if isinstance(exc, UserError) else str(exc)
        warn(f"could not write the latent cache ({msg}); sprites will be encoded again next time")
    views = [map_batches(autoencoder.encode, data.images, channels, device, flip=mirrored)
             for mirrored in ([False, True] if flip else [False])]
    return torch.stack(views).contiguous()


def _encode_to_file(autoencoder, images: torch.Tensor, cache_file: Path, flip: bool) -> torch.Tensor:
    """Encode into the cache file batch by batch (written atomically), then map it."""
    import numpy as np

    from ldm_sprites.data.mapped import create_safetensors, map_safetensors
    from ldm_sprites.fsutil import atomic_path

    channels, device = autoencoder.data_spec.channels, autoencoder.device
    n_views = 2 if flip else 1
    with atomic_path(cache_file) as tmp:
        out = None
        for v, mirrored in enumerate([False, True] if flip else [False]):
            for i, z in iter_batches(autoencoder.encode, images, channels, device, flip=mirrored,
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
