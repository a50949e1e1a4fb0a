"""Encode a whole data set once and cache the latents (latent-mode diffusion training).

The cache file name hashes the decoded image bytes, the autoencoder's content hash and the flip
setting, so any change to the data or to the autoencoder gives a new file, while later runs on the
same data reuse it and never run the encoder. Files are written atomically (a killed run leaves no
torn cache).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch

from ldm_sprites.console import info, progress, warn
from ldm_sprites.data.tensors import rgba_uint8_to_model

LATENT_CACHE_VERSION = 1


@torch.no_grad()
def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, channels: int,
                device, batch_size: int = 128, flip: bool = False, desc: str | None = None,
                ) -> torch.Tensor:
    """Apply ``fn`` to uint8 sprites (N, 4, H, W) in model space, batch by batch, on ``device``;
    ``flip`` mirrors them first. Returns the concatenated float32 results on the CPU."""
    outs = []
    starts = range(0, images.shape[0], batch_size)
    for i in progress(starts, desc=desc, unit="batch", leave=False, disable=True if not desc else None):
        x = rgba_uint8_to_model(images[i:i + batch_size].to(device), channels)
        if flip:
            x = x.flip(-1)
        outs.append(fn(x).float().cpu())
    return torch.cat(outs)


def latent_cache_key(images: torch.Tensor, ae_hash: str, flip: bool) -> str:
    h = hashlib.sha256()
    h.update(f"v{LATENT_CACHE_VERSION}|{ae_hash}|flip={bool(flip)}|{tuple(images.shape)}|".encode())
    h.update(images.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def encode_dataset(autoencoder, data, cache_dir: str | Path | None = None,
                   flip: bool = True) -> torch.Tensor:
    """Scaled latents of ``data`` (a ``SpriteData``): (2, N, C, h, w) float32 with flip (index 1 =
    the mirrored sprites, encoded separately rather than mirroring latents: a conv encoder is not
    exactly flip-equivariant, and a VQ/FSQ code need not be), else (1, N, C, h, w)."""
    from safetensors.torch import load_file, save_file

    from ldm_sprites.data.dataset import default_cache_dir
    from ldm_sprites.fsutil import atomic_path, ensure_dir

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = latent_cache_key(data.images, autoencoder.reference()["hash"], flip)
    cache_file = cache_dir / f"latents-{key}.safetensors"
    n_views = 2 if flip else 1
    if cache_file.is_file():
        try:
            latents = load_file(str(cache_file))["latents"]
            if latents.shape[:2] == (n_views, len(data)):
                info(f"latents loaded from cache {cache_file.name}")
                return latents
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt, never fatal
            pass
        warn(f"latent cache {cache_file.name} is unreadable; encoding again")
    views = []
    for mirrored in ([False, True] if flip else [False]):
        views.append(map_batches(autoencoder.encode, data.images, autoencoder.data_spec["channels"],
                                 autoencoder.device, flip=mirrored,
                                 desc="encoding mirrored sprites" if mirrored else "encoding sprites"))
    latents = torch.stack(views).contiguous()
    try:
        ensure_dir(cache_dir)
        with atomic_path(cache_file) as tmp:
            save_file({"latents": latents}, str(tmp), metadata={"ae": autoencoder.reference()["hash"]})
        info(f"encoded {len(data)} sprites x {n_views} orientation(s) -> {tuple(latents.shape[2:])} "
             f"latents, cached as {cache_file.name}")
    except Exception as exc:  # noqa: BLE001 - caching is an optimisation
        warn(f"could not write the latent cache ({exc}); sprites will be encoded again next time")
    return latents
