"""A saved ``config.json`` reads back as the typed config it was written from, for both stages,
and ``DataSpec`` is the one shape of "how pixels become tensors" (stage sections, saved configs,
old model directories)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from ldm_sprites.autoencoder.config import AEConfig, check_config
from ldm_sprites.config_loader import apply_overrides, check_values, from_dict, from_saved
from ldm_sprites.data.spec import DataSpec
from ldm_sprites.diffusion.config import DiffusionConfig, ModelSection, SampleSection, read_saved
from ldm_sprites.errors import UserError
from ldm_sprites.runtime import bundled_model_dir


def _saved(task) -> dict:
    """What the trainer writes to a checkpoint's config.json, through JSON and back."""
    config = dict(task.config_dict(), train=asdict(task.cfg.train), step=3)
    return json.loads(json.dumps(config))


def _sprites(n: int = 8, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 4, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("classes", [["fire", "water"], []], ids=["classes", "unconditional"])
@pytest.mark.parametrize("space", ["pixel", "latent"])
def test_a_diffusion_config_round_trips_through_config_json(classes, space):
    from ldm_sprites.diffusion.dit import build_dit
    from ldm_sprites.diffusion.task import DiffusionTask

    cfg = from_dict(DiffusionConfig, {"model": {"preset": "nano", "patch_size": 4},
                                      "data": {"size": 16, "label_column": "type"},
                                      "train": {"steps": 7, "lr": 1e-3},
                                      "sample": {"guidance_sigma_max": 5.0}})
    labels = torch.arange(8) % max(1, len(classes))
    latents = torch.randn(2, 8, 3, 4, 4) if space == "latent" else None
    task = DiffusionTask(cfg, _sprites(), labels, classes, latents=latents)
    saved = _saved(task)
    again = from_saved(DiffusionConfig, saved)
    assert again == task.cfg
    assert again.model.preset is None and again.model.hidden_size == 64   # nano, resolved
    assert again.model.in_channels == (3 if latents is not None else 4)
    assert again.model.class_dropout == (0.1 if classes else 0.0)
    # The saved model section builds the same network; resolving it again changes nothing.
    assert build_dit(**saved["model"]).config == task.model.config
    m = again.model
    assert m.resolved(m.input_size, m.in_channels, m.num_classes) == m
    assert again.data.spec() == DataSpec(16, 4, "nearest", "#ffffff", "type")


def test_an_autoencoder_config_round_trips_through_config_json():
    from ldm_sprites.autoencoder.task import AutoencoderTask

    cfg = check_config(from_dict(AEConfig, {
        "model": {"quantizer": "fsq", "fsq_levels": [5, 5, 5], "latent_channels": 3,
                  "stem": 4, "channels": 16, "res_blocks": 1},
        "loss": {"gan_weight": 0.1}, "data": {"size": 16, "shift": 2, "channels": 3},
        "train": {"steps": 5}}))
    saved = _saved(AutoencoderTask(cfg, _sprites()))
    assert from_saved(AEConfig, saved) == cfg
    assert DataSpec.from_config(saved["data"]) == cfg.data.spec()


def test_old_model_directories_read_back_as_typed_configs():
    """A format-1 diffusion config (the bundled model's as it was: no preset key nor
    ``mlp_conv`` in the resolved model section, no ``vary_*`` sampling, a ``latent_space`` claim
    in ``ae``, no file hashes) reads back through ``read_saved``, the reader sampling uses; the
    bundled AE predates ``label_column`` in the AE's data section (and ``norm``,
    ``latent_noise``): both read back."""
    from ldm_sprites.modeldir import load_model_dir

    md = load_model_dir(bundled_model_dir(), expect_kind="diffusion")
    old = json.loads(json.dumps(md.config))
    for section, keys in (("model", ("preset", "mlp_conv")),
                          ("sample", ("vary_sampler", "vary_steps", "vary_spacing"))):
        for key in keys:
            old[section].pop(key)
    old.pop("files")
    old.update(format_version=1, ae={"path": "ae", "hash": old["ae"]["hash"],
                                     "latent_space": "338ed2b9e3104353"})
    cfg = read_saved(old)
    m = old["model"]
    typed = asdict(cfg.model)
    assert {k: typed[k] for k in m} == m
    assert typed["preset"] is None         # a saved architecture is explicit, not the "tiny" preset
    assert typed["mlp_conv"] is False      # a key the old directory lacks (mlp_conv): default
    assert cfg.data.spec() == DataSpec.from_config(old["data"])
    assert cfg.sample.guidance_interval == (0.3, 5.0)
    assert cfg.sample.vary_steps == SampleSection().vary_steps
    assert (cfg.ae.hash, cfg.ae.encoder) == (old["ae"]["hash"], None)  # the claim is not read
    now = read_saved(md.config)            # the bundled model as it ships now: the same model
    assert (now.model, now.sample, now.data) == (cfg.model, cfg.sample, cfg.data)

    ae = load_model_dir(Path(bundled_model_dir()) / "ae", expect_kind="autoencoder")
    ae_cfg = check_config(from_saved(AEConfig, ae.config))
    typed = asdict(ae_cfg.model)   # keys the old directory lacks (norm, latent_noise): defaults
    assert {k: typed[k] for k in ae.config["model"]} == ae.config["model"]
    assert ae_cfg.data.label_column is None


def test_data_spec_from_config_fills_defaults_and_ignores_augmentation():
    assert DataSpec.from_config(None) == DataSpec()
    old = {"size": 24.0, "channels": 3, "flip": True, "hue_jitter": 0.1}   # no resample etc.
    spec = DataSpec.from_config(old, label_column="type", background=None)
    assert spec == DataSpec(24, 3, "nearest", "#ffffff", "type") and isinstance(spec.size, int)
    assert DataSpec.from_config({"label_column": "a"}, label_column=None).label_column == "a"
    # A stage's data section is a spec: the loader and the cache key see only the spec.
    section = DiffusionConfig().data
    assert isinstance(section, DataSpec) and type(section.spec()) is DataSpec
    assert AEConfig().data.spec() == DataSpec(size=64)


def test_every_way_in_runs_the_declared_checks():
    with pytest.raises(UserError, match="--lr 2.0 is out of range"):
        from_dict(DiffusionConfig, {"train": {"lr": 2}})
    with pytest.raises(UserError, match="--size 4 is out of range"):
        apply_overrides(AEConfig(), {"data.size": 4})
    with pytest.raises(UserError, match="data.resample.*not one of"):
        from_dict(AEConfig, {"data": {"resample": "bicubic"}})
    cfg = DiffusionConfig()
    cfg.train.steps = 0           # built in code: check_values catches it
    with pytest.raises(UserError, match="--steps 0 must be at least 1"):
        check_values(cfg)
    with pytest.raises(UserError, match="min_snr_gamma -1.0 must be >= 0"):
        from_dict(DiffusionConfig, {"diffusion": {"min_snr_gamma": -1}})
    with pytest.raises(UserError, match="label_column"):
        check_config(from_dict(AEConfig, {"data": {"label_column": "type"}}))
    with pytest.raises(ValueError, match="unknown preset"):
        ModelSection(preset="huge").resolved(16, 4, 0)
