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


def bundled_model_dir() -> str:
    """The demo model that ships in the package: the default when no --model is given."""
    bundled = ASSETS_DIR / "demo-model"
    if (bundled / "config.json").is_file():
        return str(bundled)
    raise UserError("no --model given and no bundled demo model is installed; "
                    "train one with 'ldmsprites train-diffusion' and pass --model RUN_DIR")
