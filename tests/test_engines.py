"""The exported files in the programs they are made for, not only in our own parsers.

- Tiled: its own renderer (``tmxrasterizer``, Debian's ``tiled`` package) draws ``tilemap.json``
  and a map that uses the external ``tileset.tsx``; both must give the picture the map's data
  describes, pixel for pixel.
- Phaser 3 and 4 (``load.tilemapTiledJSON`` + ``load.atlas``) and PixiJS 8 (``Assets.load``) in
  headless chromium: the map renders the same picture, and every atlas frame is there at its size.

Skipped, with the reason, where a program is missing; nothing here downloads. The JavaScript
libraries come from a ``node_modules`` folder: ``$LDMSPRITES_NODE_MODULES`` or the repository's
own (``npm install --no-save phaser phaser3@npm:phaser@3 pixi.js``; .ci/run does this).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.cli import cli

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = Path(os.environ.get("LDMSPRITES_NODE_MODULES", ROOT / "node_modules"))
# name in the page -> file under node_modules
LIBRARIES = {"phaser4": "phaser/dist/phaser.min.js", "phaser3": "phaser3/dist/phaser.min.js",
             "pixi": "pixi.js/dist/pixi.min.js"}
NUM = 5  # tiles: an odd count leaves the tileset's last row part empty


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> Path:
    """Tileable demo tiles exported as a user would: PNGs, the atlas, the tileset and the map."""
    out = tmp_path_factory.mktemp("engines") / "tiles"
    res = CliRunner().invoke(cli, ["generate", "--tileable", "--num", str(NUM), "--seed", "3",
                                    "--steps", "8", "--export", str(out)])
    assert res.exit_code == 0, res.output
    # the same sprites again as a trimmed atlas: frames cut to their content, sourceSize kept
    res = CliRunner().invoke(cli, ["export", str(out / "png"), "--trim", "--upscale", "1",
                                   "--out", str(out / "trimmed")])
    assert res.exit_code == 0, res.output
    return out


def atlas_sizes(sheet_json: Path) -> dict:
    """Each frame's size as an engine must report it: the untrimmed ``sourceSize``, and the
    rectangle cut from the sheet."""
    frames = json.loads(sheet_json.read_text())["frames"]
    return {k: [v["sourceSize"]["w"], v["sourceSize"]["h"], v["frame"]["w"], v["frame"]["h"]]
            for k, v in frames.items()}


def _rgba(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))


def expected_map(out: Path) -> np.ndarray:
    """The picture ``tilemap.json`` describes, composed from its data and ``tileset.png``."""
    tmj = json.loads((out / "tilemap.json").read_text())
    tw, th, ts = tmj["tilewidth"], tmj["tileheight"], tmj["tilesets"][0]
    sheet = _rgba(out / ts["image"])
    canvas = np.zeros((tmj["height"] * th, tmj["width"] * tw, 4), np.uint8)
    for i, gid in enumerate(tmj["layers"][0]["data"]):
        if gid == 0:
            continue
        local = gid - ts["firstgid"]
        sy, sx = divmod(local, ts["columns"])
        y, x = divmod(i, tmj["width"])
        canvas[y * th:(y + 1) * th, x * tw:(x + 1) * tw] = \
            sheet[sy * th:(sy + 1) * th, sx * tw:(sx + 1) * tw]
    return canvas


def assert_same_picture(got: np.ndarray, want: np.ndarray, who: str) -> None:
    """Equal up to rounding of premultiplied colour (renderers blend onto transparent black)."""
    assert got.shape == want.shape, f"{who}: {got.shape} vs {want.shape}"
    a_got, a_want = got[..., 3].astype(int), want[..., 3].astype(int)
    assert np.abs(a_got - a_want).max() <= 1, f"{who}: alpha differs"
    pm_got = got[..., :3].astype(int) * a_got[..., None] // 255
    pm_want = want[..., :3].astype(int) * a_want[..., None] // 255
    assert np.abs(pm_got - pm_want).max() <= 2, f"{who}: colours differ"


def test_expected_map_holds_every_tile_as_a_block(export_dir):
    want = expected_map(export_dir)
    assert want.shape[:2] == (2 * 3 * 32, 3 * 3 * 32)   # 5 tiles in 3 columns, 3x3 blocks
    tile = _rgba(export_dir / "tileset.png")[:32, :32]
    assert np.array_equal(want[:96, :96], np.tile(tile, (3, 3, 1)))
    assert want[..., 3].any()


# --- Tiled -------------------------------------------------------------------------------------

def _rasterize(map_path: Path, png: Path) -> np.ndarray:
    exe = shutil.which("tmxrasterizer")
    if exe is None:
        pytest.skip("Tiled check: no tmxrasterizer (apt-get install tiled)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(png.parent)}
    res = subprocess.run([exe, str(map_path), str(png)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert res.returncode == 0 and png.is_file(), res.stderr
    return _rgba(png)


def test_tiled_renders_the_map(export_dir, tmp_path):
    got = _rasterize(export_dir / "tilemap.json", tmp_path / "map.png")
    assert_same_picture(got, expected_map(export_dir), "Tiled, tilemap.json")


def test_tiled_reads_the_external_tsx(export_dir, tmp_path):
    """A map of the user's own that uses ``tileset.tsx`` (as Tiled's editor does) draws the
    same picture: the .tsx's tile size, columns and image are what Tiled reads."""
    tmj = json.loads((export_dir / "tilemap.json").read_text())
    tmj["tilesets"] = [{"firstgid": 1, "source": "tileset.tsx"}]
    mine = export_dir / "uses-tsx.json"
    mine.write_text(json.dumps(tmj))
    try:
        got = _rasterize(mine, tmp_path / "tsx.png")
    finally:
        mine.unlink()
    assert_same_picture(got, expected_map(export_dir), "Tiled, tileset.tsx")


# --- Phaser and PixiJS in chromium -------------------------------------------------------------

@pytest.fixture(scope="module")
def served(export_dir):
    """The export folder and the libraries over HTTP (the loaders fetch with XHR)."""
    missing = [f for f in LIBRARIES.values() if not (NODE_MODULES / f).is_file()]
    if missing:
        pytest.skip(f"engine check: {NODE_MODULES / missing[0]} missing "
                    "(npm install --no-save phaser phaser3@npm:phaser@3 pixi.js)")
    for name, rel in LIBRARIES.items():
        shutil.copy(NODE_MODULES / rel, export_dir / f"{name}.js")
    (export_dir / "index.html").write_text("<!doctype html><body></body>")
    handler = functools.partial(_QuietHandler, directory=str(export_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)   # port 0: bound, not guessed
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is the assertions, not an access log
        pass


@pytest.fixture(scope="module")
def page(served, browser):
    p = browser.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(served + "/index.html")
    yield p, errors
    p.close()


PHASER_SCENE = """
async ([lib]) => {
  await new Promise((ok, bad) => {
    const s = document.createElement('script'); s.src = lib + '.js';
    s.onload = ok; s.onerror = bad; document.head.appendChild(s);
  });
  const map = await (await fetch('tilemap.json')).json();
  const W = map.width * map.tilewidth, H = map.height * map.tileheight;
  return await new Promise((done) => {
    const game = new Phaser.Game({
      type: Phaser.CANVAS, width: W, height: H, pixelArt: true, transparent: true,
      banner: false, audio: {noAudio: true},
      scene: {
        preload() {
          this.load.image('tiles', 'tileset.png');
          this.load.tilemapTiledJSON('map', 'tilemap.json');
          this.load.atlas('sheet', 'sheet.png', 'sheet.json');
          this.load.atlas('trimmed', 'trimmed/sheet.png', 'trimmed/sheet.json');
        },
        create() {
          const m = this.make.tilemap({key: 'map'});
          const layer = m.createLayer('tiles', m.addTilesetImage('tileset', 'tiles'), 0, 0);
          const frames = {};
          for (const key of ['sheet', 'trimmed']) {
            const tex = this.textures.get(key);
            frames[key] = {};
            for (const name of tex.getFrameNames()) {
              const f = tex.get(name);
              frames[key][name] = [f.realWidth, f.realHeight, f.cutWidth, f.cutHeight];
            }
          }
          const tiles = layer.layer.data.flat().map(t => t.index);
          this.game.events.once('postrender', () => {
            done({version: Phaser.VERSION, width: m.width, height: m.height,
                  tileW: m.tileWidth, tiles, frames,
                  png: this.game.canvas.toDataURL('image/png')});
          });
        },
      },
    });
  });
}
"""


@pytest.mark.parametrize("lib", ["phaser3", "phaser4"])
def test_phaser_loads_the_map_and_the_atlas(page, export_dir, lib):
    p, errors = page
    p.goto(p.url)                       # a fresh page: one Phaser per page
    got = p.evaluate(PHASER_SCENE, [lib])
    assert not errors, errors
    assert got["version"].startswith(lib[-1]), got["version"]
    tmj = json.loads((export_dir / "tilemap.json").read_text())
    assert (got["width"], got["height"], got["tileW"]) == \
        (tmj["width"], tmj["height"], tmj["tilewidth"])
    # Phaser counts tile indices from the tileset's firstgid; empty cells are -1
    assert got["tiles"] == [g if g else -1 for g in tmj["layers"][0]["data"]]
    assert got["frames"]["sheet"] == atlas_sizes(export_dir / "sheet.json")
    trimmed = atlas_sizes(export_dir / "trimmed" / "sheet.json")
    assert got["frames"]["trimmed"] == trimmed
    assert any(v[2:] != v[:2] for v in trimmed.values())      # some frames really are trimmed
    rendered = np.asarray(Image.open(io.BytesIO(base64.b64decode(
        got["png"].split(",", 1)[1]))).convert("RGBA"))
    assert_same_picture(rendered, expected_map(export_dir), f"{lib}, tilemap.json")


PIXI_SHEET = """
async () => {
  await new Promise((ok, bad) => {
    const s = document.createElement('script'); s.src = 'pixi.js';
    s.onload = ok; s.onerror = bad; document.head.appendChild(s);
  });
  const out = {version: PIXI.VERSION, frames: {}, animations: {}};
  for (const key of ['sheet', 'trimmed']) {
    const sheet = await PIXI.Assets.load((key === 'sheet' ? '' : 'trimmed/') + 'sheet.json');
    out.frames[key] = {};
    for (const [name, t] of Object.entries(sheet.textures))
      out.frames[key][name] = [t.orig.width, t.orig.height, t.frame.width, t.frame.height];
    out.animations[key] = Object.keys(sheet.animations || {});
  }
  return out;
}
"""


def test_pixi_loads_the_atlas(page, export_dir):
    p, errors = page
    p.goto(p.url)
    got = p.evaluate(PIXI_SHEET)
    assert not errors, errors
    assert got["version"].startswith("8"), got["version"]
    for key, folder in (("sheet", export_dir), ("trimmed", export_dir / "trimmed")):
        assert got["frames"][key] == atlas_sizes(folder / "sheet.json"), key
        sheet = json.loads((folder / "sheet.json").read_text())
        assert sorted(got["animations"][key]) == sorted(sheet["animations"]), key
        assert got["animations"][key], key
