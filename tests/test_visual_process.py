"""Forward animation and noise statistics (no trained model needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.data.tensors import rgba_uint8_to_model
from ldm_sprites.demo_art import make_demo_sprites, write_demo_set
from ldm_sprites.visual.forward import forward_process, render_forward
from ldm_sprites.visual.noise_stats import noise_stats


@pytest.fixture(scope="module")
def sprites():
    arr, _ = make_demo_sprites(2, size=16, seed=0)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # (12, 4, 16, 16) uint8


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    write_demo_set(d, n_per_class=3, size=16)
    return d


def test_forward_frames_and_last_frame_is_standard_normal(sprites, tmp_path):
    ts, seqs = forward_process(sprites, ["cosine", "linear"], T=1000, frames=7, seed=1)
    assert ts[0] == 0 and ts[-1] == 999 and len(ts) == 7
    for kind, seq in seqs.items():
        assert seq.shape == (7,) + tuple(sprites.shape)
        last = seq[-1].flatten()
        assert abs(last.mean().item()) < 0.05, kind
        assert abs(last.std().item() - 1) < 0.05, kind
    paths = render_forward(ts, seqs, 1000, tmp_path / "fw.gif")
    gif = Image.open(paths[0])
    assert gif.n_frames == 7
    assert paths[1].name == "fw-strip.png" and paths[1].is_file()


def test_forward_frame0_is_the_data(sprites):
    ts, seqs = forward_process(sprites, ["cosine"], frames=3)
    x0 = rgba_uint8_to_model(sprites)
    assert (seqs["cosine"][0] - x0).abs().max() < 0.05  # ᾱ_0 ≈ 1: σ_0 ≈ 0.006


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_ks_at_T_is_small_and_at_0_large(sprites, kind):
    x0 = rgba_uint8_to_model(sprites)
    st = noise_stats(x0, [kind], [0, 999], T=1000)[kind]
    assert st[999]["ks"] < 0.02
    assert st[0]["ks"] > 0.2


def test_animate_forward_cli_is_deterministic(demo_dir, tmp_path):
    r = CliRunner()
    outs = []
    for name in ("a", "b"):
        gif = tmp_path / name / "forward.gif"
        res = r.invoke(cli, ["animate", "forward", "--data", str(demo_dir), "--size", "16",
                             "--label-column", "type", "--schedule", "both", "--frames", "5",
                             "--num", "6", "--out", str(gif), "--cache-dir", str(tmp_path / "c")])
        assert res.exit_code == 0, res.output
        outs.append((gif.read_bytes(), gif.with_name("forward-strip.png").read_bytes()))
    assert outs[0] == outs[1]
    assert Image.open(tmp_path / "a" / "forward.gif").n_frames == 5


def test_noise_stats_cli_writes_png_and_json(demo_dir, tmp_path):
    out = tmp_path / "noise.png"
    res = CliRunner().invoke(cli, ["plot", "noise-stats", "--data", str(demo_dir), "--size", "16",
                                   "--out", str(out), "--t", "0,500,999",
                                   "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    data = json.loads(out.with_suffix(".json").read_text())
    for kind in ("cosine", "linear"):
        assert data["schedules"][kind]["999"]["ks"] < 0.03
        assert data["schedules"][kind]["0"]["ks"] > 0.2
    assert Image.open(out).size[0] > 300
    first = out.read_bytes()
    CliRunner().invoke(cli, ["plot", "noise-stats", "--data", str(demo_dir), "--size", "16",
                             "--out", str(out), "--t", "0,500,999",
                             "--cache-dir", str(tmp_path / "c")])
    assert out.read_bytes() == first  # matplotlib PNG without version/date metadata


def test_noise_stats_rejects_bad_timestep(demo_dir, tmp_path):
    res = CliRunner().invoke(cli, ["plot", "noise-stats", "--data", str(demo_dir), "--size", "16",
                                   "--out", str(tmp_path / "n.png"), "--t", "0,1000",
                                   "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 1 and "outside 0..999" in res.output


def test_pick_evenly_keeps_ends():
    from ldm_sprites.visual.layout import pick_evenly

    assert pick_evenly(5, 10) == [0, 1, 2, 3, 4]
    p = pick_evenly(100, 4)
    assert p[0] == 0 and p[-1] == 99 and len(p) == 4
    assert np.all(np.diff(p) > 0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 60])
def test_loss_smoothing_keeps_length_and_skips_nan(n):
    from ldm_sprites.visual.report import smooth

    v = np.arange(n, dtype=float)
    if n > 2:
        v[1] = np.nan
    out = smooth(v)
    assert out.shape == (n,) and np.isfinite(out).all()
