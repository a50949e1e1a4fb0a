"""Palette-output decoders (``model.output: palette``) and new decoders for a frozen encoder."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ldm_sprites.autoencoder.config import AEModelSection
from ldm_sprites.autoencoder.model import Autoencoder
from ldm_sprites.autoencoder.palette_head import PaletteHead, palette_loss
from ldm_sprites.cli import cli
from test_autoencoder import NANO, nano_ae_config, train_nano_ae, train_nano_ldm

PALETTE = ["#000000", "#ff0000", "#00ff00", "#ffffff"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _model_space(rgba: np.ndarray) -> torch.Tensor:
    from ldm_sprites.data.tensors import rgba_uint8_to_model

    return rgba_uint8_to_model(torch.from_numpy(rgba).permute(2, 0, 1)[None])


def test_targets_pick_the_nearest_colour_and_transparent_below_half_alpha():
    head = PaletteHead(PALETTE, 4)
    rgba = np.array([[[250, 10, 5, 255], [10, 240, 20, 255], [0, 0, 0, 0]],
                     [[255, 255, 255, 200], [200, 0, 0, 100], [3, 3, 3, 255]]], np.uint8)
    idx = head.targets(_model_space(rgba))
    # entry 0 is transparent, entry i the palette's colour i - 1
    assert idx.tolist() == [[[2, 3, 0], [4, 0, 1]]]
    # The entries are model-space pixels: transparent is -1 everywhere, colours have alpha 1.
    assert head.entries[0].tolist() == [-1, -1, -1, -1]
    assert head.entries[2].tolist() == [1, -1, -1, 1]


def test_rgb_head_has_no_transparent_entry():
    head = PaletteHead(PALETTE, 3)
    x = torch.tensor([[[[0.9]], [[0.95]], [[1.0]]]])          # near white, model space
    assert head.size == 4 and head.targets(x).item() == 3


def test_palette_decoder_outputs_only_palette_entries_and_hard_alpha():
    torch.manual_seed(0)
    cfg = AEModelSection(downsample=4, latent_channels=4, stem=4, output="palette",
                         palette=PALETTE, **NANO)
    model = Autoencoder(cfg, 4)
    x = torch.rand(2, 4, 16, 16) * 2 - 1
    x_hat, out = model(x, torch.Generator().manual_seed(0))
    assert x_hat.shape == x.shape and out.logits.shape == (2, 16, 16, 5)
    # Training sees the expected colour: a convex mix of the entries, differentiable.
    x_hat.sum().backward()
    assert model.head.logits.weight.grad.abs().sum() > 0
    model.eval()
    y = model.decode(model.encode(x))
    entries = {tuple(e) for e in model.head.entries.tolist()}
    assert {tuple(p) for p in y.permute(0, 2, 3, 1).reshape(-1, 4).tolist()} <= entries
    assert set(y[:, 3].unique().tolist()) <= {-1.0, 1.0}


def test_palette_loss_is_low_for_confident_right_logits():
    head = PaletteHead(PALETTE, 4)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1:3, 1:3] = [255, 0, 0, 255]
    x = _model_space(rgba)
    t = head.targets(x)
    right = (torch.nn.functional.one_hot(t, 5).float() * 20).log_softmax(-1)
    wrong = right.roll(1, dims=-1)
    assert palette_loss(right, x, head) < 1e-6 < 10 < palette_loss(wrong, x, head)


@pytest.fixture(scope="module")
def source_ae(tmp_path_factory, demo_dir):
    return train_nano_ae(tmp_path_factory.mktemp("src"), demo_dir, "kl")


def _decoder_run(tmp_path, demo_dir, source, *extra):
    out = tmp_path / "pal"
    res = run("train-ae", "--data", demo_dir, "--out", out, "--output", "palette",
              "--init-from", source, *extra)
    assert res.exit_code == 0, res.output
    return out


def test_train_palette_decoder_saves_its_palette_and_decodes_in_palette(tmp_path, demo_dir,
                                                                       source_ae):
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.data.tensors import model_to_rgba_uint8
    from ldm_sprites.finish.palette import from_model_dir

    out = _decoder_run(tmp_path, demo_dir, source_ae, "--config", nano_ae_config(tmp_path, "kl"))
    ae = load_autoencoder(out, device="cpu")
    colors = ae.config["model"]["palette"]
    # The decoder's palette is the training data's, the one palette.json describes.
    saved = from_model_dir(ae.path)
    assert ["#{:02x}{:02x}{:02x}".format(*c) for c in saved.colors] == colors
    z = torch.randn(6, 4, 4, 4)
    rgba = model_to_rgba_uint8(ae.decode(z))
    assert set(np.unique(rgba[..., 3])) <= {0, 255}
    opaque = rgba[rgba[..., 3] == 255][:, :3]
    allowed = {tuple(int(c.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)) for c in colors}
    assert {tuple(p) for p in opaque.tolist()} <= allowed
    res = run("info", "--model", out)
    assert f"decoder:  palette ({len(colors)} colours" in res.output
    assert "decoder:  rgb" in run("info", "--model", source_ae).output
    # --resume keeps the saved palette and continues.
    res = run("train-ae", "--data", demo_dir, "--out", out, "--resume", "--steps", "8")
    assert res.exit_code == 0, res.output
    assert load_autoencoder(out, device="cpu").config["model"]["palette"] == colors


def test_frozen_encoder_keeps_the_latent_space_for_existing_diffusion_models(
        tmp_path, demo_dir, source_ae):
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.modeldir import load_model_dir

    # No config: the architecture, loss and data settings come from the source autoencoder.
    out = _decoder_run(tmp_path, demo_dir, source_ae, "--freeze-encoder", "--steps", "4")
    src, new = load_autoencoder(source_ae, device="cpu"), load_autoencoder(out, device="cpu")
    assert new.config["model"]["channels"] == src.config["model"]["channels"] == NANO["channels"]
    assert new.config["data"]["size"] == 16 and new.config["model"]["freeze_encoder"]
    enc = {k: v for k, v in src.model.state_dict().items()
           if k.startswith(("encoder", "bottleneck"))}
    got = new.model.state_dict()
    assert enc and all(torch.equal(v, got[k]) for k, v in enc.items())
    assert new.scale_factor == src.scale_factor
    # The latent space is read from the encoder's weights, which the new decoder kept.
    assert new.reference()["encoder"] == src.reference()["encoder"]
    assert new.reference()["hash"] != src.reference()["hash"]
    x = torch.rand(3, 4, 16, 16) * 2 - 1
    assert torch.equal(new.encode(x), src.encode(x))
    # A diffusion model trained on the source autoencoder generates through the new decoder.
    train_nano_ldm(tmp_path, source_ae, demo_dir)
    assert load_model_dir(tmp_path / "ldm").config["ae"]["encoder"] == src.reference()["encoder"]
    res = run("generate", "--model", tmp_path / "ldm", "--ae", out, "--num", "2", "--steps", "2",
              "--finish", "none", "--out", tmp_path / "new.png", "--scale", "1")
    assert res.exit_code == 0, res.output
    from PIL import Image

    alpha = np.array(Image.open(tmp_path / "new.png").convert("RGBA"))[..., 3]
    assert set(np.unique(alpha)) <= {0, 255}
    # bundle --ae ships the new decoder inside the model, under the model's latent space.
    res = run("bundle", tmp_path / "ldm", tmp_path / "shared", "--ae", out)
    assert res.exit_code == 0, res.output
    bundled = load_model_dir(tmp_path / "shared").config["ae"]
    assert bundled["encoder"] == src.reference()["encoder"] and bundled["path"] == "ae"
    assert load_autoencoder(tmp_path / "shared" / "ae").config["model"]["output"] == "palette"
    res = run("generate", "--model", tmp_path / "shared", "--num", "2", "--steps", "2",
              "--finish", "none", "--out", tmp_path / "b.png", "--scale", "1")
    assert res.exit_code == 0, res.output


def test_a_bad_palette_colour_is_a_one_line_error():
    from ldm_sprites.autoencoder.config import AEConfig, check_config
    from ldm_sprites.config_loader import from_dict
    from ldm_sprites.errors import UserError

    cfg = from_dict(AEConfig, {"model": {"output": "palette", "palette": ["#00ff00", "green"]}})
    with pytest.raises(UserError, match="'green' is not a colour"):
        check_config(cfg)


def test_freeze_encoder_needs_init_from_and_a_matching_encoder(tmp_path, demo_dir, source_ae):
    res = run("train-ae", "--config", nano_ae_config(tmp_path, "kl"), "--data", demo_dir,
              "--out", tmp_path / "x", "--freeze-encoder")
    assert res.exit_code != 0 and "needs model.init_from (--init-from)" in res.output
    assert "Traceback" not in res.output
    res = run("train-ae", "--config", nano_ae_config(tmp_path, "kl"), "--data", demo_dir,
              "--out", tmp_path / "y", "--init-from", source_ae, "--freeze-encoder",
              "--latent-channels", "2")
    assert res.exit_code != 0 and "does not fit this config" in res.output
    assert "Traceback" not in res.output


def test_shipped_palette_decoder_config_trains_a_decoder_for_a_given_autoencoder(
        tmp_path, demo_dir, source_ae):
    from pathlib import Path

    from ldm_sprites.modeldir import load_model_dir

    shipped = Path(__file__).resolve().parents[1] / "configs" / "ae-palette-decoder.yaml"
    out = _decoder_run(tmp_path, demo_dir, source_ae, "--config", shipped, "--steps", "2")
    m = load_model_dir(out).config["model"]
    assert (m["output"], m["freeze_encoder"], m["latent_noise"]) == ("palette", True, 0.3)
    assert m["channels"] == NANO["channels"] and m["init_from"] == str(source_ae.resolve())


def test_api_trains_a_palette_decoder_and_samples_through_it(tmp_path, demo_dir, source_ae,
                                                             monkeypatch):
    from ldm_sprites import api

    monkeypatch.chdir(tmp_path)   # a relative init_from is recorded as an absolute path
    rel = os.path.relpath(source_ae, tmp_path)
    assert not os.path.isabs(rel)
    clean = api.train_ae(demo_dir, tmp_path / "pal", init_from=rel, freeze_encoder=True,
                         output="palette", steps=2)
    from ldm_sprites.modeldir import load_model_dir

    assert load_model_dir(clean).config["model"]["init_from"] == str(source_ae.resolve())
    ldm = train_nano_ldm(tmp_path, source_ae, demo_dir)
    sprites, _ = api.generate(api.load_pipeline(ldm, ae=clean), num=3, steps=2, finish="none")
    assert sprites.shape == (3, 16, 16, 4) and set(np.unique(sprites[..., 3])) <= {0, 255}
