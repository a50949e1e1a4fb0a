"""The names ``ldm_sprites.config`` always had, from their homes now: the generic YAML loader
(``config_loader``), the shared ``train:`` section (``train_section``) and the diffusion schema
(``diffusion/config.py``). Scripts and tests import from here; the package imports the homes."""

from __future__ import annotations

from ldm_sprites.config_loader import (apply_overrides, check_values, from_dict, from_saved,
                                       load_yaml, to_dict)
from ldm_sprites.config_loader import load_config as _load_config
from ldm_sprites.diffusion.config import (DataSection, DiffusionConfig, DiffusionSection,
                                          ModelSection, SampleSection, sigma_interval)
from ldm_sprites.train_section import TrainSection

check_ranges = check_values

__all__ = ["DataSection", "DiffusionConfig", "DiffusionSection", "ModelSection", "SampleSection",
           "TrainSection", "apply_overrides", "check_ranges", "check_values", "from_dict",
           "from_saved", "load_config", "load_yaml", "sigma_interval", "to_dict"]


def load_config(path, cls=DiffusionConfig):
    """``config_loader.load_config`` with the diffusion schema as the default."""
    return _load_config(path, cls)
