"""One home for sampling defaults: every entry point draws the same sprites for the same seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites import api
from ldm_sprites.cli import cli
from ldm_sprites.diffusion.config import read_saved
from ldm_sprites.diffusion.options import EVERY_STEP, resolve_sampling
from ldm_sprites.errors import UserError


def resolve(saved: dict, timesteps: int, **user):
    """``resolve_sampling`` over a saved ``sample`` section, read as from_pretrained reads it."""
    return resolve_sampling(read_saved({"sample": saved}).sample, timesteps, **user)


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))


def _with_saved_defaults(model_dir, tmp_path, **sample):
    """A copy of the newest checkpoint whose saved sampling defaults differ from the schema's."""
    import shutil

    from ldm_sprites.modeldir import load_model_dir

    src = load_model_dir(model_dir).path
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg["sample"].update(sample)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def test_resolve_fills_from_the_model_and_user_wins():
    saved = {"sampler": "ddim", "steps": 7, "guidance": 2.0, "eta": 0.5, "init_noise": "harmonic",
             "guidance_sigma_min": 0.3, "guidance_sigma_max": 5.0}
    o = resolve(saved, 1000)
    assert (o.sampler, o.steps, o.guidance, o.eta, o.init_noise) == ("ddim", 7, 2.0, 0.5, "harmonic")
    assert o.guidance_interval == (0.3, 5.0)
    o = resolve(saved, 1000, steps=3, guidance=1.0, eta=0.0, guidance_interval=EVERY_STEP)
    assert (o.steps, o.guidance, o.eta, o.guidance_interval) == (3, 1.0, 0.0, None)
    # another sampler than the model's gets its own natural step count
    assert resolve(saved, 1000, sampler="ddpm").steps == 1000
    assert resolve(saved, 1000, sampler="dpmpp").steps == 25
    assert resolve({}, 1000, guidance_interval="0.5,0").guidance_interval == (0.5, 0.0)
    # spacing: the model's (older models saved none: uniform), the user's wins; another sampler
    # than the model's samples uniformly, as it gets its own step count
    assert resolve(saved, 1000).spacing == "uniform"
    assert resolve({}, 1000).spacing == "logsnr"                 # the schema's default
    assert resolve({"sampler": "unipc", "spacing": "logsnr"}, 1000,
                            sampler="ddpm").spacing == "uniform"
    assert resolve({**saved, "spacing": "karras"}, 1000).spacing == "karras"
    assert resolve({"spacing": "karras"}, 1000, spacing="logsnr").spacing == "logsnr"


def test_variations_below_strength_1_take_the_models_vary_sampling():
    saved = {"sampler": "unipc", "steps": 12, "spacing": "logsnr", "vary_sampler": "ddim",
             "vary_steps": 30, "vary_spacing": "karras"}
    o = resolve(saved, 1000, sdedit=True)
    assert (o.sampler, o.steps, o.spacing) == ("ddim", 30, "karras")
    assert (resolve(saved, 1000).sampler, resolve(saved, 1000).steps) == \
        ("unipc", 12)                                         # generation: the model's own
    o = resolve(saved, 1000, sdedit=True, steps=8)  # a user choice: normal rules
    assert (o.sampler, o.steps, o.spacing) == ("unipc", 8, "logsnr")
    o = resolve({}, 1000, sdedit=True)               # the schema's: measured for editing
    assert (o.sampler, o.steps, o.spacing) == ("dpmpp", 25, "uniform")


def test_class_transfer_takes_the_models_transfer_guidance():
    saved = {"guidance": 2.0, "transfer_guidance": 6.5}
    assert resolve(saved, 1000).guidance == 2.0
    assert resolve(saved, 1000, transfer=True).guidance == 6.5
    assert resolve(saved, 1000, transfer=True, guidance=1.5).guidance == 1.5  # user wins
    assert resolve({}, 1000, transfer=True).guidance == 5.0  # older models: the schema's


@pytest.mark.parametrize("kw, msg", [
    ({"sampler": "euler"}, "unknown sampler"), ({"guidance": -1}, "must be >= 0"),
    ({"steps": 0}, "must be >= 1"), ({"guidance_interval": "5,1"}, "LO < HI"),
    ({"guidance_interval": "x"}, "two numbers"), ({"init_noise": "pink"}, "init noise"),
    ({"spacing": "cosine"}, "unknown spacing")])
def test_resolve_rejects_bad_options_in_one_line(kw, msg):
    with pytest.raises(UserError, match=msg) as e:
        resolve({}, 1000, **kw)
    assert "\n" not in str(e.value)


def test_generate_api_demo_and_eval_draw_identical_sprites(tiny_model, demo_dir, tmp_path):
    """generate, api.generate, demo and eval all use the model's saved eta / init noise /
    guidance interval (here deliberately unusual) and so produce byte-identical sprites."""
    model = _with_saved_defaults(tiny_model, tmp_path, sampler="ddim", steps=4, eta=0.7,
                                 init_noise="harmonic", guidance=2.5,
                                 guidance_sigma_min=0.2, guidance_sigma_max=8.0)
    pipe = api.load_pipeline(model)
    n_cls = len(pipe.classes)
    run = CliRunner()

    res = run.invoke(cli, ["generate", "--model", str(model), "--num", str(2 * n_cls), "--seed", "3",
                           "--out-dir", str(tmp_path / "gen")])
    assert res.exit_code == 0, res.output
    records = json.loads((tmp_path / "gen" / "sprites.json").read_text())
    assert (records["sampler"], records["steps"], records["guidance"]) == ("ddim", 4, 2.5)
    cli_sprites = np.stack([_png(tmp_path / "gen" / r["file"]) for r in records["sprites"]])

    api_sprites, names = api.generate(pipe, num=2 * n_cls, seed=3)
    assert names == [r["class"] for r in records["sprites"]]
    assert np.array_equal(api_sprites, cli_sprites)

    # Something must actually differ from the schema defaults, or the test proves nothing.
    plain, _ = api.generate(pipe, num=2 * n_cls, seed=3, eta=0.0, init_noise="standard")
    assert not np.array_equal(plain, api_sprites)

    # demo: per-class round robin; its grid holds them sorted by class, one class a row, at 8x
    res = run.invoke(cli, ["demo", "--model", str(model), "--per-class", "2", "--seed", "3",
                           "--out", str(tmp_path / "demo")])
    assert res.exit_code == 0, res.output
    grid, side = _png(tmp_path / "demo" / "grid.png"), 8 * cli_sprites.shape[1]
    order = sorted(range(2 * n_cls), key=lambda i: (i % n_cls, i))
    for k, i in enumerate(order):
        r, c = divmod(k, 2)
        cell = grid[1 + r * (side + 1):1 + r * (side + 1) + side, 1 + c * (side + 1):][:, :side]
        assert np.array_equal(cell[::8, ::8], cli_sprites[i]), records["sprites"][i]

    # eval with data of one class samples only that class: compare with generate --class
    one = pipe.classes[0]
    res = run.invoke(cli, ["generate", "--model", str(model), "--class", one, "--num", "3",
                           "--seed", "3", "--out-dir", str(tmp_path / "gen1")])
    assert res.exit_code == 0, res.output
    data1 = tmp_path / "data1"
    data1.mkdir()
    meta = (demo_dir / "metadata.csv").read_text().splitlines()
    keep = [meta[0]] + [line for line in meta[1:] if line.split(",")[1] == one]
    assert len(keep) > 2, keep
    for line in keep[1:]:
        name = line.split(",")[0]
        (data1 / name).parent.mkdir(parents=True, exist_ok=True)
        (data1 / name).write_bytes((demo_dir / name).read_bytes())
    (data1 / "metadata.csv").write_text("\n".join(keep) + "\n")
    res = run.invoke(cli, ["eval", "--model", str(model), "--data", str(data1), "--num", "3",
                           "--seed", "3", "--out", str(tmp_path / "ev.json"),
                           "--samples", str(tmp_path / "ev"), "--kid-subset-size", "2"])
    assert res.exit_code == 0, res.output
    for i in range(3):
        assert np.array_equal(_png(tmp_path / "ev" / f"{i:04d}-{one}.png"),
                              _png(tmp_path / "gen1" / f"{one}-{i:03d}.png"))
    saved = json.loads((tmp_path / "ev.json").read_text())
    assert saved["guidance_interval"] == [0.2, 8.0] and saved["eta"] == 0.7


def test_generate_finishes_by_default_and_finish_none_is_the_raw_sampler_output(tiny_model, tmp_path):
    pipe = api.load_pipeline(tiny_model)
    labels, _ = pipe.spread_labels(None, 4)
    raw = pipe.to_rgba(pipe.sample(labels, seed=5))
    run = CliRunner()
    for mode in ("none", "auto"):
        res = run.invoke(cli, ["generate", "--model", str(tiny_model), "--num", "4", "--seed", "5",
                               "--finish", mode, "--out-dir", str(tmp_path / mode)])
        assert res.exit_code == 0, res.output
    files = [r["file"] for r in json.loads((tmp_path / "none" / "sprites.json").read_text())["sprites"]]
    got_raw = np.stack([_png(tmp_path / "none" / f) for f in files])
    got_fin = np.stack([_png(tmp_path / "auto" / f) for f in files])
    assert np.array_equal(got_raw, raw)
    assert np.isin(got_fin[..., 3], (0, 255)).all()      # hard alpha
    assert not np.array_equal(got_fin, raw)
    fin, _ = api.generate(pipe, num=4, seed=5)            # the API's default is the CLI's
    assert np.array_equal(fin, got_fin)
    assert np.array_equal(api.generate(pipe, num=4, seed=5, finish="none")[0], raw)
