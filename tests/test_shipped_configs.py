"""Every YAML config the project ships loads, passes the value checks and builds its model:
a typo or an impossible shape in configs/ is caught here, not by a user an hour into a run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from ldm_sprites.config_loader import check_values, load_config
from ldm_sprites.diffusion.config import DiffusionConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def _is_autoencoder(path: Path) -> bool:
    return path.stem.startswith("ae-") or "-ae" in path.stem


AE_CONFIGS = [p for p in CONFIGS if _is_autoencoder(p)]
DIFFUSION_CONFIGS = [p for p in CONFIGS if not _is_autoencoder(p)]
# The autoencoder recipe each latent diffusion config trains on (as its comment says); the rest
# learn pixels at their own data.size. A new diffusion config belongs in one of the two.
LATENT_ON = {"cpu-dit": "cpu-ae", "dcss-dit": "dcss-ae", "dcss-tiles": "dcss-ae",
             "demo-dit": "demo-ae", "dit-latent": "ae-kl", "dit-latent-tiny": "ae-tiny"}
PIXEL = {"ddpm-pixel", "dcss-pixel", "pixel-tiny"}


def test_there_are_configs():
    names = {p.stem for p in CONFIGS}
    assert {"ae-kl", "ae-vq", "ae-fsq", "ae-tiny", "pixel-tiny", "ddpm-pixel", "dit-latent"} <= names


@pytest.mark.parametrize("path", AE_CONFIGS, ids=lambda p: p.stem)
def test_autoencoder_configs_build_and_round_trip_shapes(path):
    from ldm_sprites.autoencoder.config import AEConfig, check_config
    from ldm_sprites.autoencoder.model import Autoencoder

    cfg = load_config(path, AEConfig)
    if cfg.model.freeze_encoder:        # a new decoder for an autoencoder named on the command line
        cfg.model.init_from = "runs/ae"
    if cfg.model.output == "palette" and not cfg.model.palette:   # filled in from the data
        cfg.model.palette = ["#000000", "#ffffff", "#ff0000"]
    cfg = check_config(cfg)
    check_values(cfg)
    torch.manual_seed(0)
    model = Autoencoder(cfg.model, cfg.data.channels).eval()
    x = torch.rand(1, cfg.data.channels, cfg.data.size, cfg.data.size) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        side = cfg.data.size // cfg.model.downsample
        assert z.shape == (1, cfg.model.latent_channels, side, side)
        assert model.decode(z).shape == x.shape


def test_every_diffusion_config_is_latent_or_pixel():
    assert {p.stem for p in DIFFUSION_CONFIGS} == set(LATENT_ON) | PIXEL
    assert set(LATENT_ON.values()) <= {p.stem for p in AE_CONFIGS}


def _stated(path: Path, pattern: str) -> float | None:
    """A number the config's comments state (``pattern`` with one group), or None."""
    comments = " ".join(line.split("#", 1)[1] for line in path.read_text().splitlines()
                        if "#" in line)
    found = re.search(pattern, comments)
    return float(found.group(1)) if found else None


@pytest.mark.parametrize("path", DIFFUSION_CONFIGS, ids=lambda p: p.stem)
def test_diffusion_configs_build_their_dit_at_the_inputs_they_train_on(path):
    """The DiT is built as training builds it (``DiffusionTask``): on the latents of the
    autoencoder recipe it pairs with (side data.size / downsample, latent_channels channels), or
    on pixels at the config's size; one denoising call keeps the shape, and the token and
    parameter counts the config's comments state are those of the built model."""
    from ldm_sprites.autoencoder.config import AEConfig
    from ldm_sprites.diffusion.task import DiffusionTask

    cfg = load_config(path, DiffusionConfig)
    check_values(cfg)
    assert cfg.train.steps > 0
    classes, n = ["a", "b", "c"], 6
    labels = torch.arange(n) % len(classes)
    if path.stem in LATENT_ON:
        ae = load_config(CONFIG_DIR / f"{LATENT_ON[path.stem]}.yaml", AEConfig)
        channels, side = ae.model.latent_channels, ae.data.size // ae.model.downsample
        # a wrap-conditioned model measures its tiles' edges: give it some tiles
        tiles = torch.randint(0, 256, (n, 4, ae.data.size, ae.data.size), dtype=torch.uint8,
                              generator=torch.Generator().manual_seed(0)) \
            if cfg.model.wrap_condition else None
        task = DiffusionTask(cfg, tiles, labels, classes,
                             latents=torch.randn(2, n, channels, side, side))
    else:
        channels, side = cfg.data.channels, cfg.data.size
        task = DiffusionTask(cfg, torch.zeros(n, channels, side, side, dtype=torch.uint8),
                             labels, classes)
    model = task.model.eval()
    assert (model.config.input_size, model.config.in_channels) == (side, channels)
    x = torch.randn(2, channels, side, side)
    with torch.no_grad():
        assert model(x, torch.tensor([0, 999]), torch.tensor([0, 2])).shape == x.shape
    tokens = (side // cfg.model.patch_size) ** 2
    assert model.config.num_tokens == tokens
    stated = _stated(path, r"->\s*(\d+) tokens")
    assert stated is None or stated == tokens, f"{path.name} says {stated:g} tokens, not {tokens}"
    params = sum(p.numel() for p in model.parameters()) / 1e6
    stated = _stated(path, r"([\d.]+) M parameters") or _stated(path, r"parameters \(([\d.]+) M\)")
    assert stated is None or stated == pytest.approx(params, rel=0.05), \
        f"{path.name} says {stated} M parameters; the model has {params:.2f} M"


def test_cpu_recipe_configs_train_a_few_steps_and_sample(tmp_path, demo_dir):
    """The README's CPU recipe (configs/cpu-ae.yaml + cpu-dit.yaml) runs end to end through the
    CLI on small demo sprites: a few steps of each stage, then generate with the saved defaults."""
    from click.testing import CliRunner

    from ldm_sprites.cli import cli

    root = Path(__file__).resolve().parents[1] / "configs"

    def run(*args):
        res = CliRunner().invoke(cli, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res

    ae, ldm = tmp_path / "ae", tmp_path / "ldm"
    run("train-ae", "--config", root / "cpu-ae.yaml", "--data", demo_dir, "--out", ae,
        "--size", 32, "--steps", 2, "--batch-size", 4, "--checkpoint-every", 2, "--sample-every", 0)
    run("train-diffusion", "--config", root / "cpu-dit.yaml", "--ae", ae, "--data", demo_dir,
        "--label-column", "type", "--out", ldm, "--steps", 2, "--batch-size", 8,
        "--checkpoint-every", 2, "--sample-every", 0)
    run("generate", "--model", ldm, "--class", "fire", "--num", 2, "--steps", 3,
        "--out", tmp_path / "fire.png")
    assert (tmp_path / "fire.png").stat().st_size > 0


def test_small_real_art_recipe_configs_train_a_few_steps_and_sample(tmp_path, demo_dir):
    """The README's first recipe for your own sprites (configs/dcss-ae.yaml, dcss-dit.yaml and the
    palette decoder dcss-ae-palette.yaml, beside the DiT on the frozen encoder) runs end to end:
    a few steps of each stage, then generate through the palette decoder with --ae."""
    from click.testing import CliRunner

    from ldm_sprites.cli import cli

    root = Path(__file__).resolve().parents[1] / "configs"

    def run(*args):
        res = CliRunner().invoke(cli, [str(a) for a in args])
        assert res.exit_code == 0, res.output
        return res

    ae, aep, ldm = tmp_path / "ae", tmp_path / "aep", tmp_path / "ldm"
    few = ("--steps", 2, "--batch-size", 4, "--checkpoint-every", 2)
    run("train-ae", "--config", root / "dcss-ae.yaml", "--data", demo_dir, "--out", ae, *few)
    run("train-diffusion", "--config", root / "dcss-dit.yaml", "--ae", ae, "--data", demo_dir,
        "--label-column", "type", "--out", ldm, *few, "--sample-every", 0)
    run("train-ae", "--config", root / "dcss-ae-palette.yaml", "--init-from", ae,
        "--data", demo_dir, "--out", aep, *few)
    out = tmp_path / "fire.png"
    run("generate", "--model", ldm, "--ae", aep, "--class", "fire", "--num", 2, "--steps", 3,
        "--out", out)
    from PIL import Image

    assert Image.open(out).size[0] >= 32
