"""The bottom layer: runtime concerns that every package may import.

Which device to run on, where the bundled assets are, and which files are images. This module
imports nothing from the rest of ``ldm_sprites`` except ``errors``, and torch only inside
``resolve_device``, so the export and finish code can use it without loading torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ldm_sprites.errors import UserError

if TYPE_CHECKING:
    import torch

# Every image file type the data loader decodes (through Pillow) into RGBA. A module that needs
# fewer derives its set from this one and says why.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tga", ".tif", ".tiff")

ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def resolve_device(device: str | None) -> torch.device:
    """``None``/``"auto"``: CUDA when there is a GPU, else the CPU; anything else as asked."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda requested but no CUDA GPU is available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device} is not a device; use cpu or cuda") from None


# Models that ship in the package, by the name ``--model`` accepts. ``demo`` is the default when no
# --model is given (the procedural demo set); the others learned real CC0 art.
BUNDLED_MODELS = {
    "demo": "demo-model",
    "dcss-items": "dcss-items",
    "dcss-monsters": "dcss-monsters",
    "dcss-tiles": "dcss-tiles",
}
DEFAULT_MODEL = "demo"


def bundled_names() -> list[str]:
    """The bundled models installed with this copy of the package."""
    return [n for n, d in BUNDLED_MODELS.items() if (ASSETS_DIR / d / "config.json").is_file()]


def bundled_model_dir(name: str | None = None) -> str:
    """A bundled model's directory by name; no name: the default (demo) model."""
    name = name or DEFAULT_MODEL
    if name in BUNDLED_MODELS and (ASSETS_DIR / BUNDLED_MODELS[name] / "config.json").is_file():
        return str(ASSETS_DIR / BUNDLED_MODELS[name])
    if name == DEFAULT_MODEL:
        raise UserError("no --model given and no bundled demo model is installed; "
                        "train one with 'ldmsprites train-diffusion' and pass --model RUN_DIR")
    raise UserError(f"no bundled model named {name!r}; bundled: {', '.join(bundled_names())}")


def model_path(text: str | None) -> str:
    """What ``--model`` names -> a path: a directory on disk (a model or a training run) wins; a
    bundled model's name otherwise; no --model: the default bundled model."""
    if not text:
        return bundled_model_dir()
    path = Path(text)
    if path.exists() and ((path / "config.json").is_file() or (path / "checkpoints").is_dir()):
        return text
    if text in BUNDLED_MODELS:
        return bundled_model_dir(text)
    return text
