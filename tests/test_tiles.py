"""Seamless tiles (docs/tiles.md): circular-shift training, tileable sampling (noise rolling and a
circularly padded decoder), wrap-conditioned models, the seam score, the tileset export and its
errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli
from ldm_sprites.data.seam import seam_scores, seam_summary

DEMO_AE = Path(__file__).resolve().parents[1] / "ldm_sprites" / "assets" / "demo-model" / "ae"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def smooth_fields(n: int, size: int = 16, grid: int = 3, seed: int = 0) -> np.ndarray:
    """Opaque smooth colour fields that do NOT wrap: a random grid x grid lattice of colours,
    bilinearly interpolated corner to corner, so a tile's left and right columns differ."""
    g = torch.Generator().manual_seed(seed)
    lattice = torch.rand((n, 3, grid, grid), generator=g)
    img = torch.nn.functional.interpolate(lattice, size=(size, size), mode="bilinear",
                                          align_corners=True)
    rgb = (img * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return np.concatenate([rgb, np.full(rgb.shape[:3] + (1,), 255, np.uint8)], -1)


def lined_fields(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """Opaque smooth fields that wrap (whole cycles per tile), crossed by a dark line along row
    and column size // 2: tiles drawn to repeat, with structure at a fixed place (mortar)."""
    g = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    out = np.full((n, size, size, 3), 0.6)
    for k in range(n):
        for c in range(3):
            for ky, kx in ((0, 1), (1, 0), (1, 1)):
                out[k, ..., c] += 0.15 * g.uniform(-1, 1) * np.cos(
                    2 * np.pi * (kx * j + ky * i) / size + g.uniform(0, 2 * np.pi))
    out[:, size // 2] *= 0.3
    out[:, :, size // 2] *= 0.3
    rgb = (out.clip(0, 1) * 255).round().astype(np.uint8)
    return np.concatenate([rgb, np.full(rgb.shape[:3] + (1,), 255, np.uint8)], -1)


def read_tiles(folder: Path) -> np.ndarray:
    return np.stack([np.array(Image.open(p).convert("RGBA"))
                     for p in sorted(Path(folder).glob("*.png"))])


@pytest.fixture(scope="module")
def field_model(tmp_path_factory):
    """A nano pixel DiT trained ~10 s on 64 smooth 16x16 fields whose edges do not match."""
    base = tmp_path_factory.mktemp("fields")
    data = base / "data"
    data.mkdir()
    for i, t in enumerate(smooth_fields(64)):
        Image.fromarray(t).save(data / f"{i:03d}.png")
    out = base / "run"
    res = run("train-diffusion", "--data", data, "--out", out, "--preset", "nano", "--size", 16,
              "--batch-size", 16, "--steps", 300, "--lr", 0.002, "--sample-every", 0,
              "--checkpoint-every", 300, "--no-flip")
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def wrap_model(tmp_path_factory):
    """A nano pixel DiT trained ~15 s with --wrap-condition on 32 lined fields that wrap and 32
    smooth fields that do not."""
    base = tmp_path_factory.mktemp("wrapfields")
    data = base / "data"
    data.mkdir()
    for i, t in enumerate(np.concatenate([lined_fields(32), smooth_fields(32, seed=1)])):
        Image.fromarray(t).save(data / f"{i:03d}.png")
    out = base / "run"
    res = run("train-diffusion", "--data", data, "--out", out, "--preset", "nano", "--size", 16,
              "--batch-size", 16, "--steps", 600, "--lr", 0.002, "--sample-every", 0,
              "--checkpoint-every", 600, "--no-flip", "--wrap-condition")
    assert res.exit_code == 0, res.output
    return out


# --- the seam score ---------------------------------------------------------------------------


def test_seam_score_of_wrapping_and_cut_tiles():
    yy, xx = np.mgrid[:16, :16]
    wave = (127 + 100 * np.sin(2 * np.pi * (xx + 2 * yy) / 16)).astype(np.uint8)  # wraps
    ramp = (xx * 16).astype(np.uint8)                                              # cut at x
    tile = lambda ch: np.dstack([ch, ch, ch, np.full_like(ch, 255)])  # noqa: E731
    assert seam_scores(tile(wave))[0] == pytest.approx(1.0, abs=0.15)
    assert seam_scores(tile(ramp), "x")[0] > 10
    assert seam_scores(tile(ramp), "y")[0] == pytest.approx(1.0)      # flat along y: 0/0 -> 1
    s = seam_summary(np.stack([tile(wave), tile(ramp)]), "x")
    assert s["n"] == 2 and s["seam"] > 1.5 and s["above_1_5"] == 0.5


def test_wrap_states_say_which_tiles_wrap_along_which_axis():
    from ldm_sprites.data.wrap import wrap_states

    yy, xx = np.mgrid[:16, :16]
    wave = (127 + 100 * np.sin(2 * np.pi * (xx + 2 * yy) / 16)).astype(np.uint8)  # wraps both
    ramp = (xx * 16).astype(np.uint8)                              # cut at x, flat along y
    ramp_y = (yy * 14 + 8 + 8 * np.cos(2 * np.pi * xx / 16)).astype(np.uint8)   # cut at y only
    tiles = np.stack([np.dstack([c, c, c, np.full_like(c, 255)]) for c in (wave, ramp, ramp_y)])
    states = wrap_states(torch.from_numpy(tiles).permute(0, 3, 1, 2))
    assert states.dtype == torch.long and states.tolist() == [[1, 1], [0, 1], [1, 0]]
    # a mirrored tile keeps its states: the same two edges meet
    mirrored = torch.from_numpy(tiles[:, :, ::-1].copy()).permute(0, 3, 1, 2)
    assert torch.equal(wrap_states(mirrored), states)


# --- training on circular shifts --------------------------------------------------------------


def test_circular_shift_is_a_permutation_of_each_tile():
    from ldm_sprites.data.wrap import circular_shift

    x = torch.randn(16, 4, 8, 12)
    y = circular_shift(x, torch.Generator().manual_seed(0))
    moved = 0
    for a, b in zip(x, y):
        assert torch.equal(a.flatten().sort().values, b.flatten().sort().values)
        offsets = [(dy, dx) for dy in range(8) for dx in range(12)
                   if torch.equal(a.roll((dy, dx), (-2, -1)), b)]
        assert offsets, "not a wrap-around shift of the tile"
        moved += offsets[0] != (0, 0)
    assert moved >= 12    # the offsets are random, not all zero


def test_training_batches_are_shifted_tiles():
    from ldm_sprites.data.tensors import rgba_uint8_to_model
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.diffusion.task import DiffusionTask

    tiles = torch.from_numpy(smooth_fields(6, size=8)).permute(0, 3, 1, 2).contiguous()
    cfg = DiffusionConfig()
    cfg.model.preset, cfg.data.size, cfg.data.flip, cfg.data.circular_shift = "nano", 8, False, True
    cfg.model.patch_size = 2
    task = DiffusionTask(cfg, tiles, torch.zeros(6, dtype=torch.long), [])
    idx = torch.arange(6)
    x = task._x0(idx, torch.Generator().manual_seed(1))
    ref = rgba_uint8_to_model(tiles, 4)
    for a, b in zip(ref, x):
        assert any(torch.equal(a.roll((dy, dx), (-2, -1)), b) for dy in range(8) for dx in range(8))
    assert not torch.equal(x, ref)


def test_latent_training_batches_are_views_rolled_by_whole_cells():
    from ldm_sprites.diffusion.config import DiffusionConfig
    from ldm_sprites.diffusion.task import DiffusionTask

    views = torch.randn(4, 5, 3, 6, 6)          # (phases x orientations, N, C, h, w)
    cfg = DiffusionConfig()
    cfg.model.preset, cfg.model.patch_size, cfg.data.circular_shift = "nano", 2, True
    task = DiffusionTask(cfg, None, torch.zeros(5, dtype=torch.long), [], latents=views)
    idx = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    z = task._x0(idx, torch.Generator().manual_seed(0))
    used = set()
    for k, zi in zip(idx.tolist(), z):
        hits = [(v, dy, dx) for v in range(4) for dy in range(6) for dx in range(6)
                if torch.equal(views[v, k].roll((dy, dx), (-2, -1)), zi)]
        assert hits, "not a whole-cell roll of one of the tile's views"
        used.add(hits[0][0])
    assert len(used) > 1    # the view (phase, orientation) is drawn too


def test_circular_shift_option_survives_training_and_resume(demo_dir, tmp_path):
    from conftest import train_then_resume

    run_dir = train_then_resume("data:\n  circular_shift: true\n", demo_dir, tmp_path)
    cfg = json.loads(next((run_dir / "checkpoints").glob("step-*4/config.json")).read_text())
    assert cfg["data"]["circular_shift"] is True


def test_wrapped_latents_are_the_latents_of_shifted_tiles(tmp_path):
    """Latent mode: a tile encoded as it repeats, rolled by whole latent cells, is the latent of
    the tile shifted by whole cells; the circularly padded decoder draws a rolled latent as the
    rolled picture (no edge); and encode_dataset(wrap=True) holds every sub-cell phase."""
    from ldm_sprites.autoencoder import encode_dataset, load_autoencoder
    from ldm_sprites.data.dataset import SpriteData
    from ldm_sprites.data.tensors import rgba_uint8_to_model

    ae = load_autoencoder(DEMO_AE, device="cpu")
    f = ae.downsample
    tiles = torch.from_numpy(smooth_fields(3, size=32, grid=5)).permute(0, 3, 1, 2).contiguous()
    x = rgba_uint8_to_model(tiles, 4)
    z = ae.encode(x, wrap="xy")
    assert not torch.allclose(z, ae.encode(x), atol=1e-3)     # the border cells see the wrap
    for q in [(1, 0), (0, 3), (5, 2)]:
        shifted = ae.encode(x.roll((f * q[0], f * q[1]), (-2, -1)), wrap="xy")
        assert torch.allclose(shifted, z.roll(q, (-2, -1)), atol=1e-4)
        a = ae.decode(z.roll(q, (-2, -1)), wrap="xy")
        b = ae.decode(z, wrap="xy").roll((f * q[0], f * q[1]), (-2, -1))
        assert (a - b).abs().amax(1).gt(1e-3).float().mean() < 1e-3
    data = SpriteData(tiles, torch.zeros(3, dtype=torch.long), [], "flat")
    views = encode_dataset(ae, data, cache_dir=tmp_path, flip=False, wrap=True)
    assert views.shape[:2] == (f * f, 3)
    for v, (a, b) in enumerate([(a, b) for a in range(f) for b in range(f)]):
        assert torch.allclose(views[v], ae.encode(x.roll((a, b), (-2, -1)), wrap="xy"), atol=1e-4)


# --- tileable sampling ------------------------------------------------------------------------


def test_tileable_samples_wrap_and_ordinary_ones_do_not(field_model, tmp_path):
    """The output PNGs of `generate` (finished), not internals: the model learned fields whose
    edges do not match; with --tileable the same model's tiles continue across the wrap edge
    like anywhere inside, and with --tileable x only left-right."""
    common = ["generate", "--model", field_model, "--num", 32, "--seed", 0]
    for name, extra in (("plain", []), ("xy", ["--tileable"]), ("x", ["--tileable", "x"])):
        res = run(*common, *extra, "--out-dir", tmp_path / name)
        assert res.exit_code == 0, res.output
    plain, xy, x = (read_tiles(tmp_path / n) for n in ("plain", "xy", "x"))
    assert seam_summary(plain)["seam"] >= 1.8
    assert seam_summary(xy)["seam"] <= 1.1
    assert seam_summary(x, "x")["seam"] <= 1.1 < 1.8 <= seam_summary(x, "y")["seam"]
    record = json.loads((tmp_path / "xy" / "sprites.json").read_text())
    assert record["tileable"] == "xy" and record["finish"]["shared_palette"] is True


def test_eval_reports_the_seam_of_tileable_output(field_model, tmp_path):
    out = tmp_path / "eval.json"
    res = run("eval", "--model", field_model, "--data", field_model.parent / "data", "--num", 16,
              "--tileable", "--features", "random-cnn", "--bootstrap", 0, "--out", out)
    assert res.exit_code == 0, res.output
    seam = json.loads(out.read_text())["seam"]
    assert seam["generated"]["seam"] <= 1.1 and seam["real"]["seam"] >= 1.8
    assert seam["generated"]["axes"] == "xy" and "seam score" in res.output


def test_sheets_are_runs_of_one_class():
    from ldm_sprites.evaluation.run import sheets

    got = sheets([0, 0, 0, 1, 1, 2], 2)
    assert [g.tolist() for g in got] == [[0, 1], [2], [3, 4], [5]]
    assert [g.tolist() for g in sheets([0, 1, 1], 0)] == [[0, 1, 2]]


def test_eval_finishes_each_sheet_in_its_own_palette(field_model, tmp_path):
    """eval --tileable scores what `generate --num 8` gives: each sheet of 8 shares one palette
    of --max-colors, and the sheets differ from each other; --sheet-size 0 puts all 16 in one
    palette. The samples are the same either way (finishing comes after sampling)."""
    def scored(sheet, name):
        folder = tmp_path / name
        res = run("eval", "--model", field_model, "--data", field_model.parent / "data",
                  "--num", 16, "--tileable", "--max-colors", 4, "--sheet-size", sheet,
                  "--features", "random-cnn", "--bootstrap", 0, "--kid-subsets", 2,
                  "--out", tmp_path / f"{name}.json", "--samples", folder)
        assert res.exit_code == 0, res.output
        assert json.loads((tmp_path / f"{name}.json").read_text())["sheet_size"] == sheet
        return read_tiles(folder)

    def colours(tiles):
        return {tuple(p) for p in tiles.reshape(-1, 4) if p[3]}

    by_sheet, whole = scored(8, "sheets"), scored(0, "whole")
    assert len(colours(by_sheet[:8])) <= 4 and len(colours(by_sheet[8:])) <= 4
    assert len(colours(whole)) <= 4 < len(colours(by_sheet))
    assert not np.array_equal(by_sheet, whole)


def test_tileable_sampling_is_reproducible_and_keeps_the_initial_noise(field_model):
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(field_model)
    a = pipe.sample([0] * 4, seed=3, tileable="xy")
    assert torch.equal(a, pipe.sample([0] * 4, seed=3, tileable="xy"))
    plain = pipe.sample([0] * 4, seed=3)
    assert not torch.equal(a, plain)
    # Same seed, same noise: the tiles are the plain sprites made to wrap, not other pictures.
    assert (a - plain).abs().mean() < (a - pipe.sample([0] * 4, seed=4)).abs().mean()


def test_unknown_tileable_axis_is_a_one_line_error(tmp_path):
    res = run("generate", "--tileable", "z", "--out", tmp_path / "g.png")
    assert res.exit_code == 1
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: unknown --tileable axis 'z'")
    from ldm_sprites.diffusion.options import resolve_sampling
    from ldm_sprites.diffusion.config import SampleSection
    from ldm_sprites.errors import UserError

    with pytest.raises(UserError):
        resolve_sampling(SampleSection(), 1000, tileable="diagonal")
    assert resolve_sampling(SampleSection(), 1000, tileable=True).tileable == "xy"


# --- wrap-conditioned models ------------------------------------------------------------------


def _randomised(model):
    """``model`` with its zero-initialised parts (adaLN, output, token conv, wrap embedding)
    filled, so a test sees what every part does."""
    g = torch.Generator().manual_seed(0)
    for name, p in model.named_parameters():
        if p.dim() > 1 or "bias" not in name:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def test_a_wrap_conditioned_dit_has_no_edge():
    """Rolling the input by whole patches, with the position embedding rolled alike, rolls the
    output: the tile's wrap-around is one more place inside it. An ordinary DiT's token conv
    pads with zeros, so it has an edge."""
    from ldm_sprites.diffusion.dit import build_dit

    x, t, y = torch.randn(2, 4, 16, 16), torch.tensor([3, 700]), torch.tensor([0, 2])
    for wrap, has_edge in ((True, False), (False, True)):
        m = _randomised(build_dit("nano", input_size=16, in_channels=4, num_classes=2,
                                  mlp_conv=True, wrap_condition=wrap))
        with torch.no_grad():
            out = m(x, t, y)
            g = m.grid
            m.pos_embed = m.pos_embed.view(1, g, g, -1).roll((1, 3), (1, 2)).reshape(1, g * g, -1)
            rolled = m(x.roll((2, 6), (2, 3)), t, y)
        err = (rolled - out.roll((2, 6), (2, 3))).abs().max().item()
        assert (err > 1e-3) if has_edge else (err < 1e-5)


def test_the_wrap_embedding_starts_as_a_no_op_and_then_conditions():
    from ldm_sprites.diffusion.dit import WRAP_NO, WRAP_YES, build_dit

    m = build_dit("nano", input_size=16, in_channels=4, num_classes=2, wrap_condition=True).eval()
    x, t, y = torch.randn(2, 4, 16, 16), torch.tensor([3, 700]), torch.tensor([0, 2])
    yes = torch.full((2, 2), WRAP_YES)
    assert torch.equal(m(x, t, y), m(x, t, y, wrap=yes))
    _randomised(m)
    assert not torch.allclose(m(x, t, y, wrap=yes), m(x, t, y, wrap=torch.full((2, 2), WRAP_NO)))


def test_wrap_conditioned_tiles_wrap_and_keep_the_datas_phase(wrap_model, tmp_path):
    """The finished PNGs of `generate`: asked for tiles that wrap, the model draws them much
    closer to wrapping than it draws its ordinary mix, and the dark lines stay on the middle
    row and column where every wrapping training tile has them (noise rolling would have put
    them anywhere)."""
    common = ["generate", "--model", wrap_model, "--num", 32, "--seed", 0]
    for name, extra in (("plain", []), ("xy", ["--tileable"]), ("x", ["--tileable", "x"])):
        res = run(*common, *extra, "--out-dir", tmp_path / name)
        assert res.exit_code == 0, res.output
    plain, xy, x = (read_tiles(tmp_path / n) for n in ("plain", "xy", "x"))
    assert seam_summary(xy)["seam"] <= 0.65 * seam_summary(plain)["seam"]
    assert seam_summary(x, "x")["seam"] <= 0.75 * seam_summary(plain, "x")["seam"]
    lum = xy[..., :3].astype(float).mean(-1)
    assert lum.mean((0, 1))[8] < 0.8 * lum.mean() and lum.mean((0, 2))[8] < 0.8 * lum.mean()


def test_wrap_conditioned_sampling_is_told_to_wrap_not_rolled(wrap_model):
    from ldm_sprites.diffusion.dit import WRAP_UNKNOWN, WRAP_YES
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(wrap_model)
    assert pipe.wrap_conditioned
    assert pipe.wrap_states(2, "x").tolist() == [[WRAP_YES, WRAP_UNKNOWN]] * 2
    assert pipe.wrap_states(1, None).tolist() == [[WRAP_UNKNOWN, WRAP_UNKNOWN]]
    # No noise rolling: the tiles are the sampler run once on the model told "wraps"; the
    # guidance's unconditional half is told nothing, so guidance pushes towards wrapping too.
    opts = pipe.sampling_options(tileable="xy")
    den = pipe.denoiser(torch.full((3,), pipe.null_label), opts)
    assert den.guidance == opts.guidance != 1.0
    assert den.wrap.tolist() == [[WRAP_YES] * 2] * 3
    assert den.null_wrap.tolist() == [[WRAP_UNKNOWN] * 2] * 3
    a = pipe.sample([0] * 3, seed=5, tileable="xy")
    assert torch.equal(a, pipe.sample([0] * 3, seed=5, tileable="xy"))
    assert not torch.equal(a, pipe.sample([0] * 3, seed=5))


def test_tileable_variations_of_a_tile_wrap_and_share_its_palette(wrap_model, tmp_path):
    """`vary --tileable`: variants of a tile that does not wrap come out wrapping (far better
    than plain variations of it), differ from each other, share one palette, and the export
    carries their tileset; strength 1 is `generate --tileable` byte for byte."""
    tile = smooth_fields(1, seed=7)[0]
    src = tmp_path / "src.png"
    Image.fromarray(tile).save(src)
    common = ["vary", src, "--model", wrap_model, "--strength", 0.7, "--num", 12, "--seed", 1,
              "--max-colors", 8]
    res = run(*common, "--tileable", "--out-dir", tmp_path / "tiles", "--export", tmp_path / "ex")
    assert res.exit_code == 0, res.output
    res = run(*common, "--out-dir", tmp_path / "plain")
    assert res.exit_code == 0, res.output
    tiles, plain = read_tiles(tmp_path / "tiles"), read_tiles(tmp_path / "plain")
    assert seam_summary(tiles)["seam"] <= 0.75 * seam_summary(plain)["seam"]
    assert len({t.tobytes() for t in tiles}) == 12
    assert len({tuple(p) for p in tiles.reshape(-1, 4) if p[3]}) <= 8
    assert ET.parse(tmp_path / "ex" / "tileset.tsx").getroot().get("tilecount") == "12"
    assert json.loads((tmp_path / "tiles" / "sprites.json").read_text())["tileable"] == "xy"
    res = run("vary", src, "--model", wrap_model, "--strength", 1, "--num", 3, "--seed", 2,
              "--tileable", "--out-dir", tmp_path / "v1")
    assert res.exit_code == 0, res.output
    res = run("generate", "--model", wrap_model, "--num", 3, "--seed", 2, "--tileable",
              "--out-dir", tmp_path / "g1")
    assert res.exit_code == 0, res.output
    assert np.array_equal(read_tiles(tmp_path / "v1"), read_tiles(tmp_path / "g1"))
    res = run("vary", src, "--model", wrap_model, "--tileable", "z", "--out-dir", tmp_path / "z")
    assert res.exit_code == 1 and res.output.strip().startswith("Error: unknown --tileable axis")


def test_wrap_condition_and_circular_shift_are_a_one_line_error(demo_dir, tmp_path):
    res = run("train-diffusion", "--data", demo_dir, "--out", tmp_path / "r", "--preset", "nano",
              "--steps", 1, "--wrap-condition", "--circular-shift")
    assert res.exit_code == 1
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert lines[-1] == ("Error: --wrap-condition and --circular-shift are two ways to train "
                         "tiles: choose one (docs/tiles.md)")


# --- export and variants ----------------------------------------------------------------------


def test_tileset_export_for_tiled_and_phaser(tmp_path):
    """The bundled latent demo model through --tileable --export: previews, a tileset image, a
    .tsx that parses with the right tile count and size, and a Tiled JSON map embedding it."""
    out = tmp_path / "pack"
    res = run("generate", "--tileable", "--num", 6, "--class", "fire", "--export", out,
              "--out-dir", tmp_path / "tiles")
    assert res.exit_code == 0, res.output
    root = ET.parse(out / "tileset.tsx").getroot()
    assert root.tag == "tileset"
    assert (root.get("tilewidth"), root.get("tileheight"), root.get("tilecount")) == ("32", "32", "6")
    image = root.find("image")
    sheet = Image.open(out / image.get("source"))
    cols = int(root.get("columns"))
    assert sheet.size == (int(image.get("width")), int(image.get("height")))
    assert sheet.width == 32 * cols and sheet.height == 32 * -(-6 // cols)
    assert [p.get("value") for p in root.iter("property")] == ["fire"] * 6
    tiles = read_tiles(tmp_path / "tiles")
    first = np.array(sheet)[:32, :32]
    assert np.array_equal(first, tiles[0])
    preview = np.array(Image.open(out / "preview" / "fire-000.png"))
    assert preview.shape[:2] == (3 * 32 * 8, 3 * 32 * 8)        # x --upscale (8)
    assert np.array_equal(preview[::8, ::8], np.tile(tiles[0], (3, 3, 1)))
    tmj = json.loads((out / "tilemap.json").read_text())
    ts = tmj["tilesets"][0]
    assert "source" not in ts and ts["image"] == "tileset.png" and ts["tilecount"] == 6
    assert tmj["layers"][0]["type"] == "tilelayer"
    assert len(tmj["layers"][0]["data"]) == tmj["width"] * tmj["height"]
    assert set(tmj["layers"][0]["data"]) == set(range(1, 7))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["tile-preview"] == 6 and manifest["options"]["tileset"] == "xy"
    assert json.loads((out / "sheet.json").read_text())["frames"]   # the atlas is still there
    # `export --tileset x` on the tiles `generate` wrote: a preview repeated left-right only.
    res = run("export", tmp_path / "tiles", "--out", tmp_path / "again", "--tileset", "x",
              "--upscale", 2, "--no-svg", "--no-stickers", "--no-gif")
    assert res.exit_code == 0, res.output
    assert "Tiled tileset (.tsx)" in res.output
    root = ET.parse(tmp_path / "again" / "tileset.tsx").getroot()
    assert root.get("tilecount") == "6"
    again = np.array(Image.open(tmp_path / "again" / "preview" / "fire-000.png"))
    assert again.shape[:2] == (32 * 2, 3 * 32 * 2)
    res = run("export", tmp_path / "tiles", "--out", tmp_path / "bad", "--tileset", "z")
    assert res.exit_code == 1 and res.output.strip().startswith("Error: unknown --tileset axis 'z'")


def test_tile_variants_share_one_palette(tmp_path):
    """--tileable finishes a batch with the shared-palette path: with a colour budget of 6, all
    8 tiles together use at most 6 colours (each tile on its own, --no-shared-palette, picks
    its own 6), and they are still 8 different tiles."""
    def colours(folder):
        t = read_tiles(folder)
        return t, {tuple(p) for p in t.reshape(-1, 4) if p[3]}

    common = ["generate", "--tileable", "--num", 8, "--class", "grass", "--max-colors", 6]
    res = run(*common, "--out-dir", tmp_path / "s")
    assert res.exit_code == 0, res.output
    res = run(*common, "--no-shared-palette", "--out-dir", tmp_path / "own")
    assert res.exit_code == 0, res.output
    shared, used = colours(tmp_path / "s")
    _, own = colours(tmp_path / "own")
    assert len(used) <= 6 < len(own)
    assert len({t.tobytes() for t in shared}) == 8      # variants, not copies


def test_studio_tiles_toggle(tmp_path):
    """The studio's "tiles" toggle: tileable sampling, one shared palette, the gallery shows each
    tile 3 x 3, and the export zip carries the tileset."""
    import zipfile

    from ldm_sprites.export.tiles import tile_preview
    from ldm_sprites.studio import actions

    res = actions.generate(None, ["ice"], count=3, seed=1, tiles=True, record=False)
    assert res.tileable == "xy" and res.finish.shared_palette
    image, caption = actions.gallery_items(res)[0]
    assert caption.endswith("(3x3)")
    f = image.width // (3 * 32)
    assert np.array_equal(np.array(image)[::f, ::f], tile_preview(res.sprites[0]))
    names = zipfile.ZipFile(actions.export_zip(res, tmp_path)).namelist()
    assert {"tileset.tsx", "tileset.png", "tilemap.json"} <= set(names)
    plain = actions.generate(None, ["ice"], count=3, seed=1, record=False)
    assert plain.tileable is None and "tileset.tsx" not in \
        zipfile.ZipFile(actions.export_zip(plain, tmp_path / "p")).namelist()


def test_studio_tile_variations(tmp_path):
    """The Edit tab's "tiles" box: variations of a tile come back as tiles (shown 3 x 3, one
    shared palette, seamless), and without it as sprites."""
    from ldm_sprites.studio import actions

    tile = actions.generate(None, ["ice"], count=1, seed=1, tiles=True, record=False).sprites[0]
    res = actions.vary(None, tile, strength=0.6, count=4, seed=2, tiles=True)
    assert res.tileable == "xy" and res.finish.shared_palette
    assert actions.gallery_items(res)[0][1].endswith("(3x3)")
    plain = actions.vary(None, tile, strength=0.6, count=4, seed=2)
    assert plain.tileable is None and not plain.finish.shared_palette
    assert seam_summary(res.sprites)["seam"] < seam_summary(plain.sprites)["seam"]


def test_a_wrap_conditioned_model_exports_to_onnx_with_its_wrap_input(wrap_model, tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from ldm_sprites.diffusion.onnx_export import use_onnx_runtime
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    res = run("export-onnx", wrap_model, "--out", tmp_path / "onnx")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert meta["wrap_states"] == {"no": 0, "yes": 1, "unknown": 2}
    ref = DiffusionPipeline.from_pretrained(wrap_model)
    ort = use_onnx_runtime(DiffusionPipeline.from_pretrained(wrap_model), tmp_path / "onnx")
    torch.testing.assert_close(ort.sample([0] * 2, seed=1, tileable="xy"),
                               ref.sample([0] * 2, seed=1, tileable="xy"), atol=1e-3, rtol=1e-3)
