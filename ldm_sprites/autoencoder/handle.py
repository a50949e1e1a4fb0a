"""A trained autoencoder ready to use: load a model directory, encode / decode scaled latents."""

from __future__ import annotations

from pathlib import Path

import torch

from ldm_sprites.data.spec import DataSpec
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import ModelDir, hash_model_dir, load_model_dir, save_model_dir
from ldm_sprites.runtime import resolve_device

ENCODE_BATCH = 256


def build_from_config(config: dict):
    """The ``Autoencoder`` described by a saved config (``config["model"]``, ``["data"]``)."""
    from ldm_sprites.autoencoder.config import AEModelSection
    from ldm_sprites.autoencoder.model import Autoencoder
    from ldm_sprites.config_loader import from_dict

    try:
        arch = from_dict(AEModelSection, config["model"], "model")
        return Autoencoder(arch, int(config["data"]["channels"]))
    except (KeyError, TypeError) as exc:
        raise UserError(f"autoencoder config has no valid model section ({exc})") from None


def latent_space_of(md: ModelDir) -> str:
    """Which latent space an autoencoder directory encodes to: the hash of the autoencoder whose
    encoder it kept (``--freeze-encoder``), else its own hash. Decoders trained on a frozen
    encoder share the space, so a diffusion model trained on one works with all of them."""
    return md.config.get("latent_space") or hash_model_dir(md.path)


class AutoencoderHandle:
    """A trained autoencoder in eval mode on one device. ``encode``/``decode`` take and return
    *scaled* latents (unit variance over the training data).

    ``from_pretrained(dir)`` loads a model directory (EMA weights by default) and
    ``save_pretrained(dir)`` writes one, in the format of ``modeldir``."""

    def __init__(self, model, config: dict, device, path: str | Path | None = None):
        """``model``: an ``Autoencoder`` built from ``config`` (a saved config: ``model``,
        ``data``, ``scale_factor``); ``path``: the model directory it was loaded from."""
        self.path = Path(path).resolve() if path is not None else None
        self.config = config
        self.device = torch.device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)
        # How its training data became tensors: data it encodes must be decoded the same way.
        self.data_spec = DataSpec.from_config(config["data"])
        self.downsample = int(config["model"]["downsample"])
        self.latent_channels = int(config["model"]["latent_channels"])
        self.quantizer = config["model"].get("quantizer", "kl")
        self.scale_factor = float(config.get("scale_factor") or 1.0)
        self._hash: str | None = None

    @classmethod
    def from_pretrained(cls, path: str | Path, device=None,
                        weights: str = "ema") -> "AutoencoderHandle":
        """The autoencoder of a model directory or ``train-ae`` run (its newest checkpoint)."""
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        p = Path(path)
        if not p.exists():
            raise UserError(f"autoencoder {p} does not exist (train one with 'ldmsprites "
                            "train-ae' and pass its --out folder as --ae)")
        md = load_model_dir(p, expect_kind="autoencoder")
        return cls(md.load_into(build_from_config(md.config), weights), md.config, dev, md.path)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write a model directory that ``from_pretrained`` loads back into this autoencoder: its
        config and the weights it holds (as the EMA weights, which load by default)."""
        config = {k: v for k, v in self.config.items() if k != "format_version"}
        return save_model_dir(path, config, {"ema": self.model.state_dict()})

    @property
    def latent_size(self) -> int:
        return self.data_spec.size // self.downsample

    def reference(self) -> dict:
        """Path and content hash of the model directory, as a latent diffusion model records it."""
        if self.path is None:
            raise UserError("this autoencoder was not loaded from a model directory; "
                            "save_pretrained it first")
        if self._hash is None:
            self._hash = hash_model_dir(self.path)
        return {"path": str(self.path), "hash": self._hash,
                "latent_space": self.config.get("latent_space") or self._hash}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space pixels (N, C, H, W) -> scaled latents (N, c, H/f, W/f) on ``x``'s device."""
        out = [self.model.encode(x[i:i + ENCODE_BATCH].to(self.device).float())
               for i in range(0, x.shape[0], ENCODE_BATCH)]
        return (torch.cat(out) * self.scale_factor).to(x.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> model-space pixels (not clamped) on ``z``'s device."""
        out = [self.model.decode(z[i:i + ENCODE_BATCH].to(self.device).float() / self.scale_factor)
               for i in range(0, z.shape[0], ENCODE_BATCH)]
        return torch.cat(out).to(z.device)


def load_autoencoder(path: str | Path, device=None, weights: str = "ema") -> AutoencoderHandle:
    """``AutoencoderHandle.from_pretrained``."""
    return AutoencoderHandle.from_pretrained(path, device, weights)


def recorded_autoencoder_path(model_dir: ModelDir) -> str | None:
    """Where a latent diffusion model's config says its autoencoder is (None: it records none).
    Relative paths (bundled or shared models carry their AE inside) are relative to the model."""
    path = (model_dir.config.get("ae") or {}).get("path")
    if path and not Path(path).is_absolute():
        path = str(model_dir.path / path)
    return path


def load_autoencoder_for(model_dir: ModelDir, device, override: str | Path | None = None):
    """The autoencoder a latent diffusion model was trained with, checked by content hash."""
    ref = model_dir.config.get("ae") or {}
    want = ref.get("hash")
    path = override or recorded_autoencoder_path(model_dir)
    if not path:
        raise UserError(f"model {model_dir.path} is a latent model but records no autoencoder; "
                        "pass --ae with the autoencoder it was trained with")
    if not Path(path).exists():
        raise UserError(f"model {model_dir.path} needs its autoencoder {path} (hash {want}), which "
                        "does not exist; pass --ae with the autoencoder it was trained with")
    handle = load_autoencoder(path, device)
    got = handle.reference()
    # Another decoder of the same latent space (train-ae --freeze-encoder) is as good.
    same_space = (ref.get("latent_space") or want) == got["latent_space"]
    if want and got["hash"] != want and not same_space:
        raise UserError(f"model {model_dir.path} was trained with autoencoder {want} but {path} is "
                        f"{got['hash']}; pass --ae with the autoencoder it was trained with")
    return handle
