"""Editing sprites: vary (SDEdit, class transfer) and inpaint (RePaint) in pixel and latent mode."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ldm_sprites import api
from ldm_sprites.cli import cli
from ldm_sprites.diffusion import edit_inputs as EI
from ldm_sprites.diffusion import editing as E
from ldm_sprites.diffusion.samplers import SAMPLERS
from ldm_sprites.errors import UserError
from test_autoencoder import train_nano_ae, train_nano_ldm

FAST = {"steps": 3}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def pipe(tiny_model):
    return api.load_pipeline(tiny_model)


@pytest.fixture(scope="module")
def sprite_file(demo_dir):
    return sorted((demo_dir / "images").glob("water-*.png"))[0]


@pytest.fixture(scope="module")
def latent_pipe(tmp_path_factory, demo_dir):
    """A nano KL autoencoder (f = 4) and a nano latent DiT trained for a few steps."""
    base = tmp_path_factory.mktemp("edit-ldm")
    ae = train_nano_ae(base / "ae", demo_dir, "kl")
    return api.load_pipeline(train_nano_ldm(base, ae, demo_dir))


# --- the algorithms -----------------------------------------------------------------------------


def test_strength_picks_the_start_of_the_timestep_list():
    uniform = list(range(999, -1, -40))        # 25 steps, 999 ... 39
    assert E.start_index(uniform, 0.0) == 25   # no step: the input itself
    assert E.start_index(uniform, 1.0) == 0    # the whole run, from pure noise
    assert uniform[E.start_index(uniform, 0.5)] == 479    # the first step at or below t = 499.5
    assert E.start_index(uniform, 0.001) == 24  # any strength > 0 runs at least one step
    # Strength is a noise level, not a share of the steps: log-SNR spacing puts most of its
    # steps at low noise, and strength 0.5 still starts at t <= 500 there.
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    logsnr = NoiseSchedule().spaced_timesteps(12, "logsnr")
    i = E.start_index(logsnr, 0.5)
    assert logsnr[i] <= 499.5 < logsnr[i - 1]
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(UserError, match="between 0"):
            E.start_index(list(range(999, -1, -40)), bad)


@pytest.mark.parametrize("name", ["ddpm", "ddim"])
def test_samplers_run_in_segments_like_one_run(name):
    """``end`` stops a sampler at a noise level; two segments = one run (same noise draws)."""
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    sched = NoiseSchedule()
    ts = sched.spaced_timesteps(8)
    den = lambda x, t: torch.tanh(x) * 0.5  # noqa: E731 - any deterministic denoiser
    x = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    whole = SAMPLERS[name](den, x, sched, ts, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    mid = E.sample_from(name, den, x, sched, ts[:3], generator=g, end=ts[3])
    parts = E.sample_from(name, den, mid, sched, ts, 3, generator=g)
    torch.testing.assert_close(parts, whole)


def test_repaint_schedule_counts():
    ts = list(range(9, -1, -1))
    segs = E.repaint_segments(ts, jumps=2, jump_length=4)
    assert [(s, e, r) for s, e, r in segs] == [([9, 8, 7, 6], 5, 3), ([5, 4, 3, 2], 1, 3),
                                               ([1, 0], -1, 1)]
    assert len(E.executed_timesteps(ts, 2, 4)) == 4 * 3 + 4 * 3 + 2
    assert E.executed_timesteps(ts, 0, 4) == ts


def test_keep_known_makes_every_sampler_end_on_the_known_data():
    from ldm_sprites.diffusion.schedule import NoiseSchedule

    sched = NoiseSchedule()
    x0 = torch.rand(1, 4, 6, 6) * 2 - 1
    keep = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    keep[..., :3, :] = True
    for name in SAMPLERS:
        g = torch.Generator().manual_seed(0)
        x = E.repaint(name, lambda x, t: torch.zeros_like(x), torch.randn(1, 4, 6, 6, generator=g),
                      sched, sched.spaced_timesteps(6), x0, keep, jumps=1, jump_length=2,
                      generator=g)
        torch.testing.assert_close(x[..., :3, :], x0[..., :3, :], atol=1e-5, rtol=0)


# --- masks -------------------------------------------------------------------------------------


def _save(path, arr, mode):
    Image.fromarray(arr, mode).save(path)
    return path


def test_mask_files_regions_and_their_errors(tmp_path):
    bw = np.zeros((16, 16), np.uint8)
    bw[2:5, 3:9] = 255
    m = EI.read_mask(_save(tmp_path / "bw.png", bw, "L"), 16, 16)
    assert m.sum() == 18 and m[2, 3] and not m[0, 0]
    painted = np.zeros((16, 16, 4), np.uint8)
    painted[10:12, 0:2] = (255, 0, 0, 255)           # painted on a transparent layer
    assert EI.read_mask(_save(tmp_path / "a.png", painted, "RGBA"), 16, 16).sum() == 4
    assert np.array_equal(EI.parse_region("3,2,6,3", 16, 16), m)
    with pytest.raises(UserError, match="must have the sprite's size"):
        EI.read_mask(tmp_path / "bw.png", 32, 32)
    for bad in ("1,2,3", "a,b,c,d", "10,10,8,8", "0,0,0,4"):
        with pytest.raises(UserError, match="--region"):
            EI.parse_region(bad, 16, 16)
    (tmp_path / "not.png").write_text("hello")
    with pytest.raises(UserError, match="not an image"):
        EI.read_mask(tmp_path / "not.png", 16, 16)


def test_masks_follow_the_sprite_into_the_model_canvas(pipe):
    """A 24x24 canvas whose 10x10 content fits a 16 px model is cropped and centred; the mask
    moves with it, exactly."""
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[1:11, 12:22] = (200, 40, 40, 255)
    inp = EI.load_inputs(pipe, rgba)[0]
    fitted = EI.fit_mask(rgba[..., 3] > 0, inp)
    assert np.array_equal(fitted, inp.fitted[..., 3] > 0) and fitted.sum() == 100
    half = np.zeros((24, 24), bool)
    half[1:6, 12:22] = True
    assert EI.fit_mask(half, inp).sum() == 50
    with pytest.raises(UserError, match="nothing to inpaint"):
        EI.fit_mask(np.zeros((24, 24), bool), inp)
    with pytest.raises(UserError, match="generating"):
        EI.fit_mask(np.ones((24, 24), bool), inp)
    outside = np.zeros((24, 24), bool)
    outside[20:, :5] = True                     # cropped away with the empty canvas
    with pytest.raises(UserError, match="outside"):
        EI.fit_mask(outside, inp)
    big = np.zeros((40, 40, 4), np.uint8)
    big[2:38, 2:38] = 255
    with pytest.raises(UserError, match="36x36 pixels but this model draws 16x16"):
        EI.load_inputs(pipe, big)
    with pytest.raises(UserError, match="fully transparent"):
        EI.load_inputs(pipe, np.zeros((16, 16, 4), np.uint8))


# --- pixel mode --------------------------------------------------------------------------------


def test_vary_strength_zero_is_the_input_and_seeds_decide(pipe, sprite_file):
    from ldm_sprites.data.images import load_rgba

    src = load_rgba(sprite_file)
    same, names = api.vary(pipe, sprite_file, strength=0, num=2, **FAST)
    assert same.dtype == np.uint8 and same.shape == (2, 16, 16, 4) and names == [sprite_file.stem] * 2
    assert np.array_equal(same[0], src) and np.array_equal(same[1], src)
    a, _ = api.vary(pipe, [sprite_file, src], strength=0.6, num=2, seed=1, **FAST)
    b, _ = api.vary(pipe, [sprite_file, src], strength=0.6, num=2, seed=1, **FAST)
    c, _ = api.vary(pipe, [sprite_file, src], strength=0.6, num=2, seed=2, **FAST)
    assert a.shape == (4, 16, 16, 4) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_vary_strength_one_is_generating(pipe, sprite_file):
    v, names = api.vary(pipe, sprite_file, strength=1, num=3, classes=["fire"], seed=5,
                        finish="none", sampler="ddim", steps=4)
    g, _ = api.generate(pipe, classes=["fire"], num=3, seed=5, finish="none", sampler="ddim",
                        steps=4)
    assert names == ["fire"] * 3 and np.array_equal(v, g)


def test_class_transfer_is_guided_by_the_models_transfer_guidance(pipe, sprite_file, monkeypatch):
    used = []
    denoiser = pipe.denoiser
    monkeypatch.setattr(pipe, "denoiser", lambda labels, opts, rolls=None:
                        used.append(opts.guidance) or denoiser(labels, opts, rolls))
    kw = dict(num=1, seed=3, finish="none", sampler="ddim", steps=4)
    assert pipe.sampling_options(transfer=True).guidance == 5.0  # saved before the option existed
    api.vary(pipe, sprite_file, strength=0.6, classes=["fire"], **kw)       # transfer
    api.vary(pipe, sprite_file, strength=0.6, classes=["fire"], guidance=2.0, **kw)  # user's
    api.vary(pipe, sprite_file, strength=0.6, **kw)                         # no class: no transfer
    api.vary(pipe, sprite_file, strength=1.0, classes=["fire"], **kw)       # = generating
    assert used == [5.0, 2.0, pipe.sampling_options().guidance, pipe.sampling_options().guidance]


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmpp"])
def test_inpaint_keeps_unmasked_pixels_pixel_mode(pipe, sprite_file, sampler):
    from ldm_sprites.data.images import load_rgba

    src = load_rgba(sprite_file)
    out, _ = api.inpaint(pipe, sprite_file, region="4,4,8,6", num=4, seed=0, sampler=sampler,
                         steps=4, jumps=1)
    redo = EI.parse_region("4,4,8,6", 16, 16)
    assert out.shape == (4, 16, 16, 4)
    assert all(np.array_equal(o[~redo], src[~redo]) for o in out)
    assert len({o[redo].tobytes() for o in out}) == 4


def test_keep_palette_uses_the_inputs_colours(pipe, sprite_file):
    from ldm_sprites.data.images import load_rgba

    src = load_rgba(sprite_file)
    own = {tuple(c) for c in src[src[..., 3] > 0][:, :3]}
    out, _ = api.vary(pipe, sprite_file, strength=0.8, num=3, keep_palette=True, **FAST)
    used = {tuple(c) for o in out for c in o[o[..., 3] > 0][:, :3]}
    assert used and used <= own and set(np.unique(out[..., 3])) <= {0, 255}


# --- latent mode -------------------------------------------------------------------------------


def test_latent_mode_identity_and_bit_identical_unmasked_pixels(latent_pipe, sprite_file):
    from ldm_sprites.data.images import load_rgba

    assert latent_pipe.latent
    src = load_rgba(sprite_file)
    same, _ = api.vary(latent_pipe, sprite_file, strength=0, num=1)
    assert np.array_equal(same[0], src)
    mask = np.zeros((16, 16), bool)
    mask[9:14, 2:7] = True                       # not aligned with the f = 4 latent grid
    for finish in ("none", "auto"):
        out, _ = api.inpaint(latent_pipe, sprite_file, mask=mask, num=2, finish=finish, **FAST)
        assert all(np.array_equal(o[~mask], src[~mask]) for o in out)
    keep = E.latent_keep(latent_pipe, torch.from_numpy(~mask)[None, None])
    assert keep.shape == (1, 1, 4, 4) and int((~keep).sum()) == 4   # 2x2 cells touched
    v1, _ = api.vary(latent_pipe, sprite_file, strength=0.5, num=2, seed=3, **FAST)
    v2, _ = api.vary(latent_pipe, sprite_file, strength=0.5, num=2, seed=3, **FAST)
    assert np.array_equal(v1, v2)


# --- the command line --------------------------------------------------------------------------


def test_cli_vary_and_inpaint_end_to_end(tiny_model, demo_dir, sprite_file, tmp_path):
    fire = sorted((demo_dir / "images").glob("fire-*.png"))[0]
    res = run("vary", sprite_file, fire, "--model", tiny_model, "--strength", "0.5", "--num", 3,
              "--class", "ice", "--steps", 4, "--sampler", "ddim", "--out", tmp_path / "v.png",
              "--out-dir", tmp_path / "v", "--gif", tmp_path / "v.gif", "--scale", 1)
    assert res.exit_code == 0, res.output
    assert "6 variations of 2 sprite(s)" in res.output
    grid = Image.open(tmp_path / "v.png")
    assert grid.size == (4 * 17 + 1, 2 * 17 + 1)       # input + 3 outputs per row
    meta = json.loads((tmp_path / "v" / "sprites.json").read_text())
    assert meta["strength"] == 0.5 and len(meta["sprites"]) == 6
    assert {s["class"] for s in meta["sprites"]} == {"ice"}
    assert (tmp_path / "v.gif").is_file() and (tmp_path / "v-strip.png").is_file()
    mask = np.zeros((16, 16), np.uint8)
    mask[3:9, 3:9] = 255
    Image.fromarray(mask, "L").save(tmp_path / "m.png")
    res = run("inpaint", sprite_file, "--model", tiny_model, "--mask", tmp_path / "m.png",
              "--num", 2, "--steps", 4, "--jumps", 1, "--out", tmp_path / "i.png",
              "--export", tmp_path / "exp", "--keep-palette")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "i.png").size == (4 * 129 + 1, 130)  # input, mask, 2 outputs, x8
    assert (tmp_path / "exp" / "sheet.png").is_file()


def test_cli_bad_input_is_one_line_and_writes_nothing(tiny_model, sprite_file, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(np.full((8, 8), 255, np.uint8), "L").save(tmp_path / "small.png")
    Image.fromarray(np.zeros((16, 16), np.uint8), "L").save(tmp_path / "empty.png")
    Image.fromarray(np.full((16, 16), 255, np.uint8), "L").save(tmp_path / "full.png")
    big = np.zeros((40, 40, 4), np.uint8)
    big[2:38, 2:38] = 255
    Image.fromarray(big, "RGBA").save(tmp_path / "big.png")
    out = tmp_path / "out"
    common = ["--model", tiny_model, "--steps", 2, "--out", out / "g.png", "--out-dir", out / "d"]
    cases = [
        (["inpaint", sprite_file, "--mask", tmp_path / "small.png"], "must have the sprite's size"),
        (["inpaint", sprite_file, "--mask", tmp_path / "empty.png"], "nothing to inpaint"),
        (["inpaint", sprite_file, "--mask", tmp_path / "full.png"], "generating"),
        (["inpaint", sprite_file, "--region", "0,0,99,2"], "does not lie inside"),
        (["vary", sprite_file, "--strength", "1.5"], "between 0"),
        (["vary", tmp_path / "big.png"], "36x36 pixels"),
        (["vary", sprite_file, "--class", "lava"], "unknown class 'lava'"),
        (["vary", tmp_path / "notes.png"], "not an image"),
        (["inpaint", tmp_path / "notes.png", "--region", "0,0,2,2"], "not an image"),
    ]
    for args, message in cases:
        res = run(*args, *common)
        assert res.exit_code == 1, (args, res.output)
        assert message in res.output and "Traceback" not in res.output, (args, res.output)
        assert len(res.output.strip().splitlines()) == 1, res.output
        assert not out.exists(), args
