"""A trained autoencoder ready to use: load a model directory, encode / decode scaled latents."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ldm_sprites.data.spec import DataSpec
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import ModelDir, hash_model_dir, load_model_dir, save_model_dir
from ldm_sprites.runtime import resolve_device

ENCODE_BATCH = 256
# The parts of an ``Autoencoder`` that decide its latents (what --freeze-encoder keeps fixed).
ENCODER_PARTS = ("encoder.", "bottleneck.")


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


def encoder_hash(model, scale_factor: float | None) -> str:
    """Which latent space an autoencoder encodes to, from its weights alone: sha256 over the
    tensors of its encoder and bottleneck at float16 (the precision ``bundle`` stores them in)
    and the latent scale factor. A decoder trained on a frozen encoder (``--freeze-encoder``)
    shares it with the autoencoder it came from and with a bundled copy of either, so a
    diffusion model trained on one accepts the others; a config field cannot claim it."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if not name.startswith(ENCODER_PARTS):
            continue
        t = t.detach().cpu()
        t = t.half() if t.is_floating_point() else t
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(t.contiguous().numpy().tobytes())
    h.update(repr(float(scale_factor or 1.0)).encode())
    return h.hexdigest()[:16]


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
        self._encoder: str | None = None

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

    def save_pretrained(self, path: str | Path, fp16: bool = False,
                        extra_files: dict[str, bytes] | None = None) -> Path:
        """Write a model directory that ``from_pretrained`` loads back into this autoencoder: its
        config and the weights it holds (as the EMA weights, which load by default; float16 with
        ``fp16``), plus ``extra_files`` (name -> bytes, e.g. its palette files)."""
        # Format 1 claimed a latent space in the config; the encoder's weights say it now.
        config = {k: v for k, v in self.config.items() if k != "latent_space"}
        return save_model_dir(path, config, {"ema": self.model.state_dict()},
                              extra_files=extra_files, fp16=fp16)

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
        return {"path": str(self.path), "hash": self._hash, "encoder": self.encoder_hash()}

    def encoder_hash(self) -> str:
        """The latent space this autoencoder encodes to (``encoder_hash``)."""
        if self._encoder is None:
            self._encoder = encoder_hash(self.model, self.scale_factor)
        return self._encoder

    @torch.no_grad()
    def encode(self, x: torch.Tensor, wrap: str | None = None) -> torch.Tensor:
        """Model-space pixels (N, C, H, W) -> scaled latents (N, c, H/f, W/f) on ``x``'s device.
        ``wrap`` ('xy', 'x', 'y'): encode a tile as it repeats (circularly padded convs), so the
        latent of the tile shifted by k*f pixels is this latent rolled by k cells."""
        from ldm_sprites.data.wrap import circular_padding

        with circular_padding(self.model, wrap):
            out = [self.model.encode(x[i:i + ENCODE_BATCH].to(self.device).float())
                   for i in range(0, x.shape[0], ENCODE_BATCH)]
        return (torch.cat(out) * self.scale_factor).to(x.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, wrap: str | None = None) -> torch.Tensor:
        """Scaled latents -> model-space pixels (not clamped) on ``z``'s device. ``wrap``
        ('xy', 'x', 'y'): a latent that wraps is decoded with circularly padded convs, so the
        pixels continue across the tile's edges as they do inside it."""
        from ldm_sprites.data.wrap import circular_padding

        with circular_padding(self.model, wrap):
            out = [self.model.decode(z[i:i + ENCODE_BATCH].to(self.device).float()
                                     / self.scale_factor)
                   for i in range(0, z.shape[0], ENCODE_BATCH)]
        return torch.cat(out).to(z.device)


def load_autoencoder(path: str | Path, device=None, weights: str = "ema") -> AutoencoderHandle:
    """``AutoencoderHandle.from_pretrained``."""
    return AutoencoderHandle.from_pretrained(path, device, weights)


def recorded_path(model_path: Path, path: str | None) -> str | None:
    """Where a latent diffusion model at ``model_path`` records its autoencoder (``path``, None:
    nowhere). Relative paths (bundled or shared models carry their AE inside) are relative to
    the model."""
    if path and not Path(path).is_absolute():
        path = str(Path(model_path) / path)
    return path


def recorded_autoencoder_path(model_dir: ModelDir) -> str | None:
    """``recorded_path`` of a latent diffusion model directory, from its config alone."""
    return recorded_path(model_dir.path, (model_dir.config.get("ae") or {}).get("path"))


def load_autoencoder_for(model_path: Path, ref, device, override: str | Path | None = None):
    """The autoencoder of the latent diffusion model at ``model_path``, checked by content hash;
    ``ref`` is what the model records of it (``path``, ``hash``, ``encoder``: the diffusion
    config's ``AutoencoderRef``).

    The recorded one must be exactly the autoencoder the model records (``ref.hash``). Another
    one (``override``, ``--ae``) must be that too, or a decoder of the same encoder: its
    encoder's weights must hash to the model's latent space (``encoder_hash``), whatever its
    config says.
    """
    want = ref.hash
    recorded = recorded_path(model_path, ref.path)
    path = override or recorded
    if not path or not want:
        raise UserError(f"model {model_path} is a latent model but records no autoencoder "
                        "(path and hash); pass --ae with the autoencoder it was trained with")
    if not Path(path).exists():
        raise UserError(f"model {model_path} needs its autoencoder {path} (hash {want}), which "
                        "does not exist; pass --ae with the autoencoder it was trained with")
    handle = load_autoencoder(path, device)
    got = handle.reference()["hash"]
    if got == want:
        return handle
    if override is None:
        raise UserError(f"autoencoder {path} is {got}, but model {model_path} records {want}: "
                        "it is damaged or was replaced; copy the model again or pass --ae with "
                        "the autoencoder it was trained with")
    space = ref.encoder or _recorded_encoder(model_path, recorded, want, device)
    if handle.encoder_hash() != space:
        raise UserError(f"model {model_path} was trained with autoencoder {want} (encoder "
                        f"{space}), but --ae {path} is {got} with another encoder "
                        f"({handle.encoder_hash()}); pass --ae with the autoencoder it was "
                        "trained with, or a decoder trained from it with --freeze-encoder")
    return handle


def _recorded_encoder(model_path: Path, path: str | None, want: str, device) -> str:
    """The latent space of a model that records no encoder hash (format 1): its recorded
    autoencoder's, read from that autoencoder's weights when it is still there, unchanged."""
    if path and Path(path).exists():
        handle = load_autoencoder(path, device)
        if handle.reference()["hash"] == want:
            return handle.encoder_hash()
    raise UserError(f"model {model_path} records no encoder hash and its autoencoder {path} "
                    f"({want}) is gone or changed, so --ae cannot be checked against it; "
                    "bundle the model again with its autoencoder")
