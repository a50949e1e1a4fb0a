"""Stage one: autoencoder shapes, bottlenecks, losses, metrics, train-ae and the latent scale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from ldm_sprites.autoencoder.config import AEConfig, AEModelSection, check_config
from ldm_sprites.autoencoder.model import Autoencoder
from ldm_sprites.cli import cli
from ldm_sprites.config_loader import from_dict
from ldm_sprites.errors import UserError

NANO = dict(channels=16, res_blocks=1, codebook_size=32)


def nano_ae_config(tmp_path: Path, quantizer: str = "kl", **train) -> Path:
    """A YAML config for a nano autoencoder on 16x16 sprites (shared with test_latent.py)."""
    cfg = {"model": {"quantizer": quantizer, "downsample": 4, "latent_channels": 4, "stem": 4,
                     "fsq_levels": [5, 5, 5, 5], **NANO},
           "data": {"size": 16, "holdout": 0.1},
           "train": {"steps": 6, "batch_size": 8, "lr": 0.002, "warmup_steps": 2,
                     "checkpoint_every": 3, "sample_every": 3, "log_every": 2, **train}}
    path = tmp_path / f"ae-{quantizer}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def train_nano_ae(tmp_path: Path, data_dir: Path, quantizer: str = "kl", *extra) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / f"ae-{quantizer}"
    res = CliRunner().invoke(cli, ["train-ae", "--config", str(nano_ae_config(tmp_path, quantizer)),
                                   "--data", str(data_dir), "--out", str(out), *map(str, extra)])
    assert res.exit_code == 0, res.output
    return out


def train_nano_ldm(base: Path, ae: Path, data_dir: Path) -> Path:
    """A nano latent DiT trained for 2 steps on ``ae``'s latents; returns its run directory."""
    cfg = base / "dit.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"preset": "nano", "patch_size": 1},
                                   "train": {"steps": 2, "batch_size": 8, "checkpoint_every": 2,
                                             "sample_every": 0}}))
    res = CliRunner().invoke(cli, ["train-diffusion", "--config", str(cfg), "--ae", str(ae),
                                   "--data", str(data_dir), "--label-column", "type",
                                   "--out", str(base / "ldm")])
    assert res.exit_code == 0, res.output
    return base / "ldm"


@pytest.mark.parametrize("quantizer", ["kl", "vq", "fsq"])
@pytest.mark.parametrize("f", [2, 4, 8])
@pytest.mark.parametrize("channels", [4, 3])
def test_encode_decode_shapes(quantizer, f, channels):
    torch.manual_seed(0)
    cfg = AEModelSection(quantizer=quantizer, downsample=f, latent_channels=4, stem=2,
                         fsq_levels=[5, 5, 5, 5], **NANO)
    model = Autoencoder(cfg, channels)
    x = torch.rand(2, channels, 16, 16) * 2 - 1
    x_hat, out = model(x, torch.Generator().manual_seed(0))
    assert x_hat.shape == x.shape and out.z.shape == (2, 4, 16 // f, 16 // f)
    assert torch.isfinite(out.loss)
    model.eval()
    z = model.encode(x)
    assert z.shape == (2, 4, 16 // f, 16 // f)
    assert torch.equal(z, model.encode(x)), "encode must be deterministic"
    assert model.decode(z).shape == x.shape
    if quantizer == "kl":
        assert out.kl is not None
    else:
        assert out.indices is not None


def test_fsq_latent_lies_on_the_grid():
    cfg = AEModelSection(quantizer="fsq", downsample=4, latent_channels=4, stem=4,
                         fsq_levels=[5, 5, 5, 5], **NANO)
    model = Autoencoder(cfg, 4).eval()
    z = model.encode(torch.rand(2, 4, 16, 16) * 2 - 1)
    # FSQ with 5 levels rounds each channel to {-1, -0.5, 0, 0.5, 1}.
    assert torch.allclose(z * 2, (z * 2).round(), atol=1e-5)



def test_fsq_with_more_channels_than_levels_rounds_each_group_without_projection():
    from ldm_sprites.autoencoder.config import AEConfig
    from ldm_sprites.autoencoder.task import AutoencoderTask

    cfg = AEModelSection(quantizer="fsq", downsample=4, latent_channels=8, stem=4,
                         fsq_levels=[5, 5, 5, 5], **NANO)
    model = Autoencoder(cfg, 4).eval()
    assert model.bottleneck.groups == 2
    assert not model.bottleneck.fsq.has_projections  # the rounded values are the latent itself
    h = torch.randn(3, 8, 4, 4) * 3
    out = model.bottleneck(h)
    assert out.z.shape == (3, 8, 4, 4) and out.indices.shape == (3, 4, 4, 2)
    assert torch.allclose(out.z * 2, (out.z * 2).round(), atol=1e-5)
    # usage is counted over both groups' 625 codes each (group 2's ids offset by 625)
    task = AutoencoderTask(AEConfig(model=cfg, data=from_dict(AEConfig, {}).data),
                           torch.zeros(4, 4, 16, 16, dtype=torch.uint8))
    task.model = model
    flat = task._flat_indices(out.indices)
    assert task._n_codes() == 1250
    assert torch.equal(flat[..., 0], out.indices[..., 0])
    assert torch.equal(flat[..., 1], out.indices[..., 1] + 625)


@pytest.mark.parametrize("heads", [1, 4])
def test_vq_blockwise_code_search_equals_the_library(heads, monkeypatch):
    """``VQBottleneck.indices``/``encode`` search codes block by block; they must pick exactly the
    codes vector_quantize_pytorch's own forward picks, also when blocks split the positions."""
    import ldm_sprites.autoencoder.quantizers as quantizers

    torch.manual_seed(0)
    cfg = AEModelSection(quantizer="vq", downsample=4, latent_channels=8, stem=4, vq_heads=heads,
                         kmeans_init=False, **NANO)
    bottleneck = Autoencoder(cfg, 4).bottleneck.eval()
    h = torch.randn(5, 8, 6, 6) * 2
    with torch.no_grad():
        z_lib, ids_lib, _ = bottleneck.vq(h)
    monkeypatch.setattr(quantizers, "DISTANCE_BLOCK", 100)   # several blocks, a ragged last one
    ids = bottleneck.indices(h)
    assert ids.shape == ids_lib.shape == ((5, 6, 6, heads) if heads > 1 else (5, 6, 6))
    assert torch.equal(ids, ids_lib)
    assert torch.equal(bottleneck.encode(h), z_lib)
    assert len(ids.unique()) > 4   # a real search, not one code everywhere


@pytest.mark.parametrize("norm", ["channel", "group"])
def test_channel_norm_makes_the_autoencoder_crop_invariant(norm):
    """Trained on crops, applied to whole canvases: with per-position channel norm the interior
    of a crop reconstructs exactly as in the whole canvas; GroupNorm's image-wide statistics
    change with the crop (the reason ``data.crop`` configs use ``norm: channel``)."""
    torch.manual_seed(0)
    cfg = AEModelSection(quantizer="kl", downsample=4, latent_channels=4, stem=4, channels=16,
                         res_blocks=0, norm=norm)
    model = Autoencoder(cfg, 4).eval()
    for p in model.parameters():                    # nothing zero-initialised: every layer acts
        torch.nn.init.normal_(p, 0.0, 0.2)
    x = torch.full((1, 4, 64, 64), -1.0)
    x[:, :, 16:48, 20:44] = torch.rand(1, 4, 32, 24) * 2 - 1
    with torch.no_grad():
        whole = model.decode(model.encode(x))[..., 24:40, 24:40]
        crop = model.decode(model.encode(x[..., 8:56, 8:56]))[..., 16:32, 16:32]
    # receptive field: 2 convs each side at 16x16 -> 4 latent positions = 16 px from the border
    if norm == "channel":
        torch.testing.assert_close(crop, whole, atol=1e-5, rtol=1e-5)
    else:
        assert (crop - whole).abs().max() > 1e-3


def test_random_crops_lie_on_the_sprite_and_follow_the_seed():
    from ldm_sprites.autoencoder.task import content_boxes, random_crops

    imgs = torch.zeros(3, 4, 64, 64, dtype=torch.uint8)
    imgs[0, :, 10:20, 30:40] = 255
    imgs[1, :, 40:64, 0:3] = 255
    boxes = content_boxes(imgs)
    assert boxes.tolist() == [[10, 20, 30, 40], [40, 64, 0, 3], [0, 64, 0, 64]]
    for seed in range(20):
        crops = random_crops(imgs, boxes, 16, torch.Generator().manual_seed(seed))
        assert crops.shape == (3, 4, 16, 16)
        assert (crops[:2, 3] > 0).flatten(1).any(1).all()   # every crop shows its sprite
    again = random_crops(imgs, boxes, 16, torch.Generator().manual_seed(19))
    assert torch.equal(crops, again)


def test_config_checks():
    with pytest.raises(UserError, match="downsample"):
        check_config(from_dict(AEConfig, {"model": {"downsample": 3}}))
    with pytest.raises(UserError, match="quantizer"):
        check_config(from_dict(AEConfig, {"model": {"quantizer": "vqgan"}}))
    with pytest.raises(UserError, match="divisible"):
        check_config(from_dict(AEConfig, {"model": {"downsample": 8}, "data": {"size": 20}}))
    with pytest.raises(UserError, match="did you mean"):
        from_dict(AEConfig, {"model": {"latent_channel": 4}})
    with pytest.raises(UserError, match="data.crop"):
        check_config(from_dict(AEConfig, {"data": {"size": 16, "crop": 6}}))
    with pytest.raises(UserError, match="model.norm"):
        check_config(from_dict(AEConfig, {"model": {"norm": "batch"}}))
    with pytest.raises(UserError, match="data.shift"):
        check_config(from_dict(AEConfig, {"data": {"size": 16, "shift": 8}}))


def test_metrics_perfect_and_wrong_reconstruction():
    from ldm_sprites.autoencoder import metrics

    x = -torch.ones(1, 4, 8, 8)
    x[:, :, 2:6, 2:6] = 0.5
    perfect = metrics.finish(metrics.recon_sums(x, x))
    assert perfect["psnr"] > 100 and perfect["alpha_iou"] == 1.0
    off = x.clone()
    off[:, :3, 2:6, 2:6] += 0.2          # colour off by 0.1 on a [0, 1] scale
    off[:, 3, 2:6, 2:4] = -1.0            # half the sprite vanishes
    r = metrics.finish(metrics.recon_sums(off, x))
    assert abs(r["psnr"] - 20.0) < 1e-3 and abs(r["alpha_iou"] - 0.5) < 1e-6
    usage = metrics.code_usage(torch.tensor([0, 1, 1, 3]), 8)
    assert usage["usage"].item() == 0.375 and 2.0 < usage["perplexity"].item() < 3.0


def test_alpha_weighting_counts_opaque_pixels_more():
    from ldm_sprites.autoencoder.config import AELossSection
    from ldm_sprites.autoencoder.losses import reconstruction_loss

    x = -torch.ones(1, 4, 4, 4)
    x[:, :, :2] = 0.0                     # top half opaque
    err_opaque, err_clear = x.clone(), x.clone()
    err_opaque[:, 0, 0, 0] += 0.5
    err_clear[:, 0, 3, 0] += 0.5
    cfg = AELossSection()
    assert reconstruction_loss(err_opaque, x, cfg)[0] > 5 * reconstruction_loss(err_clear, x, cfg)[0]


@pytest.fixture(scope="module")
def kl_run(tmp_path_factory, demo_dir):
    return train_nano_ae(tmp_path_factory.mktemp("ae"), demo_dir, "kl")


def test_train_ae_writes_an_autoencoder_model_dir(kl_run):
    from ldm_sprites.modeldir import load_model_dir

    md = load_model_dir(kl_run, expect_kind="autoencoder")
    assert md.path.name == "step-00000006"
    assert md.config["scale_factor"] > 0
    assert set(md.config["heldout_metrics"]) >= {"psnr", "alpha_iou"}
    assert len(md.config["holdout_ids"]) == 2          # 10 % of 24 demo sprites
    assert (kl_run / "samples" / "step-00000006.png").is_file()
    assert (kl_run / "eval.jsonl").read_text().count("\n") == 2
    log = (kl_run / "log.jsonl").read_text()
    assert '"psnr"' in log and '"kl"' in log and '"alpha_iou"' in log


def test_scale_factor_gives_unit_latent_std(kl_run, demo_dir):
    from ldm_sprites.autoencoder import encode_dataset, load_autoencoder
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data

    ae = load_autoencoder(kl_run, device="cpu")
    assert (ae.downsample, ae.latent_channels, ae.data_spec.size) == (4, 4, 16)
    data = load_sprite_data(demo_dir, DataSpec(16, 4))
    z = encode_dataset(ae, data, flip=False)
    assert z.shape == (1, len(data), 4, 4, 4)
    assert 0.85 < z.std().item() < 1.15
    x = ae.decode(z[0])
    assert x.shape == (len(data), 4, 16, 16)


def test_train_ae_on_crops_evaluates_and_reloads_on_whole_sprites(tmp_path, demo_dir):
    from ldm_sprites.autoencoder import load_autoencoder
    from ldm_sprites.modeldir import load_model_dir

    path = nano_ae_config(tmp_path, "kl")
    cfg = yaml.safe_load(path.read_text())
    cfg["model"]["norm"] = "channel"
    cfg["data"].update(crop=8, shift=1)
    path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(cli, ["train-ae", "--config", str(path), "--data", str(demo_dir),
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    md = load_model_dir(tmp_path / "run", expect_kind="autoencoder")
    assert md.config["data"]["crop"] == 8 and md.config["model"]["norm"] == "channel"
    assert md.config["heldout_metrics"]["n"] == 2 and md.config["latent_shape"] == [4, 4, 4]
    ae = load_autoencoder(tmp_path / "run", device="cpu")
    x = torch.rand(3, 4, 16, 16) * 2 - 1
    assert ae.decode(ae.encode(x)).shape == x.shape


@pytest.mark.parametrize("quantizer", ["vq", "fsq"])
def test_train_discrete_autoencoders_log_codebook_usage(tmp_path, demo_dir, quantizer):
    from ldm_sprites.modeldir import load_model_dir

    run = train_nano_ae(tmp_path, demo_dir, quantizer)
    m = load_model_dir(run).config["heldout_metrics"]
    assert 0 < m["train_code_usage"] <= 1 and m["train_code_perplexity"] >= 1
    assert '"perplexity"' in (run / "log.jsonl").read_text()


def test_gan_resume_equals_uninterrupted_run(tmp_path, demo_dir):
    """The discriminator and its optimiser are part of the exact-resume state."""
    from ldm_sprites.autoencoder.task import AutoencoderTask
    from ldm_sprites.data.dataset import DataSpec, load_sprite_data
    from ldm_sprites.modeldir import load_model_dir
    from ldm_sprites.training.trainer import seed_everything, train

    data = load_sprite_data(demo_dir, DataSpec(16, 4))
    cfg = from_dict(AEConfig, {"model": {"stem": 4, **NANO}, "data": {"size": 16},
                               "loss": {"gan_weight": 0.1, "gan_start": 1},
                               "train": {"steps": 4, "batch_size": 4, "checkpoint_every": 2,
                                         "sample_every": 0}})

    def run(out, stop_after=None, resume=False):
        seed_everything(0)
        train(AutoencoderTask(cfg, data.images), cfg.train, out, resume=resume,
              stop_after=stop_after)

    run(tmp_path / "a")
    run(tmp_path / "b", stop_after=2)
    run(tmp_path / "b", resume=True)
    wa, wb = (load_model_dir(tmp_path / r).weights("model") for r in "ab")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert '"g_loss"' in (tmp_path / "a" / "log.jsonl").read_text()


def test_latent_noise_perturbs_only_training_decodes_and_is_seeded():
    """model.latent_noise: the decoder sees noisy latents in training (seeded by the trainer's
    generator), never in eval/encode/decode; 0 leaves the forward pass unchanged."""
    torch.manual_seed(0)
    ae = Autoencoder(AEModelSection(**NANO, downsample=4, stem=4, latent_noise=0.5), 4)
    x = torch.rand(3, 4, 16, 16) * 2 - 1
    ae.train()
    a, _ = ae(x, torch.Generator().manual_seed(1))
    b, _ = ae(x, torch.Generator().manual_seed(1))
    c, _ = ae(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    ae.cfg.latent_noise = 0.0
    clean, out = ae(x, torch.Generator().manual_seed(1))
    assert torch.allclose(clean, ae.decode(out.z))
    ae.cfg.latent_noise = 0.5
    ae.eval()
    with torch.no_grad():
        assert torch.equal(ae.decode(ae.encode(x)), ae.decode(ae.encode(x)))
        z = ae.encode(x)
        assert ae.noisy(z, torch.Generator().manual_seed(1)) is z


def test_latent_noise_out_of_range_is_a_one_line_error():
    with pytest.raises(UserError, match="latent_noise"):
        check_config(from_dict(AEConfig, {"model": {"latent_noise": -0.1}}))
