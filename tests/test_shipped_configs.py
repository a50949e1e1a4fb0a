"""Every YAML config the project ships loads, passes the value checks and builds its model:
a typo or an impossible shape in configs/ is caught here, not by a user an hour into a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ldm_sprites.config import check_ranges, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def _is_autoencoder(path: Path) -> bool:
    return path.stem.startswith("ae-") or path.stem.endswith("-ae")


AE_CONFIGS = [p for p in CONFIGS if _is_autoencoder(p)]
DIFFUSION_CONFIGS = [p for p in CONFIGS if not _is_autoencoder(p)]


def test_there_are_configs():
    names = {p.stem for p in CONFIGS}
    assert {"ae-kl", "ae-vq", "ae-fsq", "ae-tiny", "pixel-tiny", "ddpm-pixel", "dit-latent"} <= names


@pytest.mark.parametrize("path", AE_CONFIGS, ids=lambda p: p.stem)
def test_autoencoder_configs_build_and_round_trip_shapes(path):
    from ldm_sprites.autoencoder.config import AEConfig, check_config
    from ldm_sprites.autoencoder.model import Autoencoder

    cfg = check_config(load_config(path, AEConfig))
    check_ranges(cfg)
    torch.manual_seed(0)
    model = Autoencoder(cfg.model, cfg.data.channels).eval()
    x = torch.rand(1, cfg.data.channels, cfg.data.size, cfg.data.size) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        side = cfg.data.size // cfg.model.downsample
        assert z.shape == (1, cfg.model.latent_channels, side, side)
        assert model.decode(z).shape == x.shape


@pytest.mark.parametrize("path", DIFFUSION_CONFIGS, ids=lambda p: p.stem)
def test_diffusion_configs_load(path):
    cfg = load_config(path)
    check_ranges(cfg)
    assert cfg.train.steps > 0 and cfg.model.patch_size >= 1
