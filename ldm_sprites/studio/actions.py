"""What the studio's buttons do, as plain functions of plain values (no web server here).

Everything goes through ``ldm_sprites.api``; sampling options the user left unset are passed as
``None`` so the pipeline fills them from the model, exactly as ``ldmsprites generate`` does — the
same seed gives the same pixels in the page and on the command line.

Generation keeps the *raw* sampler output (``finish="none"``) and finishes it for display with
``pipe.finish``: ``generate(finish=F)`` is ``finish(generate(finish="none"), F)`` by
construction (``DiffusionPipeline.sprites``), so changing the finishing options in the page does
not need a new sampling run.
"""

from __future__ import annotations

import tempfile
import threading
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ldm_sprites.errors import UserError

BUNDLED = "bundled demo model"
MAX_COUNT = 64                     # sprites per request (one sampler batch: one callback stream)
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_PIXELS = 1024 * 1024    # an upload is a sprite, not a photo
GALLERY_SIZE = 128                 # sprites are shown at about this many px, nearest-neighbour


class Cancelled(Exception):
    """Raised from the sampler callback when the user pressed Cancel."""


# --- models -----------------------------------------------------------------------------------

_PIPES: dict[str, object] = {}
_PIPES_LOCK = threading.Lock()


def model_path(model: str | None) -> str:
    """'' / None / BUNDLED -> the default bundled model's directory; a bundled model's name
    (dcss-items, ...) -> its directory; anything else: that path."""
    from ldm_sprites import runtime

    text = (model or "").strip()
    return runtime.model_path(None if text == BUNDLED else text)


def get_pipeline(model: str | None = None, device: str | None = None):
    """The loaded pipeline for ``model``, loaded once per resolved path and shared by every
    browser tab (the lock makes two simultaneous first requests load it once)."""
    from ldm_sprites import api

    path = model_path(model)
    if not Path(path).exists():
        raise UserError(f"model '{path}' does not exist: give a model directory or training run")
    key = str(Path(path).resolve())
    with _PIPES_LOCK:
        if key not in _PIPES:
            _PIPES[key] = api.load_pipeline(key, device=device)
        return _PIPES[key]


def loaded_models() -> list[str]:
    return list(_PIPES)


def model_classes(model: str | None = None) -> list[str]:
    return list(get_pipeline(model).classes)


def model_defaults(model: str | None = None) -> dict:
    """The sampling options the model uses when the user sets none (for labels in the page)."""
    return get_pipeline(model).sampling_options().as_dict()


# --- generating -------------------------------------------------------------------------------

@dataclass
class Result:
    """One request's sprites: the raw sampler output and what the page shows (finished)."""

    raw: np.ndarray                  # (N, H, W, 4) uint8, finish="none"
    names: list[str]
    seed: int
    sprites: np.ndarray              # finished with ``finish``
    finish: object = None            # FinishOptions
    reverse: object = None           # ReverseRecorder of the first sprite
    model: str = ""
    tileable: str | None = None      # 'xy' for tiles (the "tiles" toggle): shown 3 x 3


@dataclass
class CancelFlag:
    event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.event.set()

    def check(self) -> None:
        if self.event.is_set():
            raise Cancelled("cancelled")


def _options(sampler=None, steps=None, guidance=None) -> dict:
    """Only the options the user set (None / '' / 'default' = the model's)."""
    out = {}
    if sampler and sampler != "default":
        out["sampler"] = str(sampler)
    if steps not in (None, "", 0):
        out["steps"] = int(steps)
    if guidance not in (None, ""):
        out["guidance"] = float(guidance)
    return out


def parse_seed(seed) -> int:
    try:
        value = int(float(seed))
    except (TypeError, ValueError):
        raise UserError(f"seed '{seed}' must be a whole number") from None
    if not 0 <= value < 2 ** 63:
        raise UserError(f"seed {value} must be between 0 and 2^63-1")
    return value


def generate(model=None, classes=None, count: int = 16, seed: int = 0, sampler=None,
             steps=None, guidance=None, finish=None, progress=None, cancel: CancelFlag | None = None,
             record: bool = True, tiles: bool = False) -> Result:
    """Sample ``count`` sprites spread over ``classes`` (None/[] = every class).

    ``progress(done, total)`` is called after every sampler step; ``cancel`` stops the run at the
    next step (``Cancelled``). With ``record`` the reverse process of the first sprite is kept.
    ``tiles``: tileable sampling (both directions, as ``generate --tileable``), finished with one
    shared palette; the gallery shows each tile 3 x 3 and the export adds the tileset.
    """
    from ldm_sprites import api
    from ldm_sprites.visual.reverse import ReverseRecorder

    count = int(count)
    if not 1 <= count <= MAX_COUNT:
        raise UserError(f"count {count} must be between 1 and {MAX_COUNT}")
    seed = parse_seed(seed)
    pipe = get_pipeline(model)
    opts = pipe.sampling_options(**_options(sampler, steps, guidance),
                                 tileable="xy" if tiles else None)  # bad ones fail now
    timesteps = opts.timesteps(pipe.schedule)
    pipe.spread_labels(list(classes or []), count)  # unknown class: fail before sampling
    recorder = ReverseRecorder(pipe, max_sprites=1, every=max(1, len(timesteps) // 60),
                               timesteps=timesteps) if record else None

    def callback(i, x_t, x0):
        if cancel is not None:
            cancel.check()
        if recorder is not None:
            recorder(i, x_t, x0)
        if progress is not None:
            progress(i + 1, len(timesteps))

    raw, names = api.generate(pipe, classes=list(classes or []) or None, num=count, seed=seed,
                              callback=callback, finish="none", options=opts)
    fin = tile_finish(api.finish_options(finish), opts.tileable)
    return Result(raw, names, seed, pipe.finish(raw, fin, wrap=opts.tileable), fin, recorder,
                  model_path(model), opts.tileable)


def tile_finish(fin, tileable: str | None):
    """``fin`` for tiles: variants of one map share its palette (unless finishing is off)."""
    return replace(fin, shared_palette=True) if tileable and fin.mode != "none" else fin


def refinish(result: Result, finish, model=None) -> Result:
    """The same raw sprites finished with other options (no new sampling)."""
    from ldm_sprites import api

    fin = api.finish_options(finish)
    pipe = get_pipeline(model or result.model)
    result.sprites, result.finish = pipe.finish(result.raw, fin, wrap=result.tileable), fin
    return result


def finish_from(mode="auto", max_colors=None, shared_palette=False, alpha_threshold=None,
                despeckle=True, outline=False):
    """The Finish tab's values -> FinishOptions (a UserError for impossible combinations).
    Blank or 0 colours / alpha threshold: the data's (a number box shows a blank as 0)."""
    from ldm_sprites.finish.finish import options_from

    mc = int(max_colors) if max_colors not in (None, "", 0) else None
    at = int(alpha_threshold) if alpha_threshold not in (None, "", 0) else None
    return options_from(mode or "auto", None, mc, bool(shared_palette), at, bool(despeckle),
                        bool(outline))


# --- showing ----------------------------------------------------------------------------------

def zoom_factor(size: int, target: int = GALLERY_SIZE) -> int:
    return max(1, target // max(1, int(size)))


def zoom(rgba: np.ndarray, factor: int | None = None) -> Image.Image:
    """One sprite at an integer nearest-neighbour zoom (every sprite pixel a solid square)."""
    f = factor or zoom_factor(rgba.shape[0])
    return Image.fromarray(np.ascontiguousarray(rgba), "RGBA").resize(
        (rgba.shape[1] * f, rgba.shape[0] * f), Image.NEAREST)


def gallery_items(result: Result) -> list[tuple[Image.Image, str]]:
    """Zoomed sprites and captions; tiles repeated 3 x 3, so their seams show."""
    if result.tileable:
        from ldm_sprites.export.tiles import tile_preview

        return [(zoom(tile_preview(s, result.tileable), zoom_factor(3 * s.shape[0])),
                 f"{n} #{i} (3x3)") for i, (s, n) in enumerate(zip(result.sprites, result.names))]
    return [(zoom(s), f"{n} #{i}") for i, (s, n) in enumerate(zip(result.sprites, result.names))]


def sprite_downloads(result: Result, out_dir: str | Path) -> list[str]:
    """One PNG (the sprite's own pixels) and one SVG per sprite in ``out_dir``."""
    from ldm_sprites.export import svg
    from ldm_sprites.image_files import save_sprite

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (s, n) in enumerate(zip(result.sprites, result.names)):
        stem = f"{n}-{i:03d}"
        files.append(str(save_sprite(out / f"{stem}.png", s)))
        (out / f"{stem}.svg").write_text(svg.sprite_svg(svg.trace_sprite(s, "pixel"), 8, "pixel"))
        files.append(str(out / f"{stem}.svg"))
    return files


def reverse_gif(result: Result, out_dir: str | Path) -> tuple[str, str]:
    """The recorded reverse process of the first sprite (x_t beside x̂_0): GIF + strip PNG."""
    if result.reverse is None:
        raise UserError("generate first: the reverse process is recorded while sampling")
    gif, strip = result.reverse.save(Path(out_dir) / "reverse.gif", strip_sprites=1)
    return str(gif), str(strip)


def forward_gif(rgba: np.ndarray, out_dir: str | Path, schedules=("cosine", "linear"),
                frames: int = 20, seed: int = 0) -> tuple[str, str]:
    """The forward (noising) process of one real sprite under each schedule: GIF + strip PNG."""
    import torch

    from ldm_sprites.visual.forward import forward_process, render_forward

    images = torch.from_numpy(np.ascontiguousarray(rgba[None])).permute(0, 3, 1, 2)
    ts, seqs = forward_process(images, list(schedules), frames=frames, seed=seed)
    gif, strip = render_forward(ts, seqs, 1000, Path(out_dir) / "forward.gif", strip_sprites=1)
    return str(gif), str(strip)


def demo_sprite(class_name: str | None = None, size: int = 32, seed: int = 0) -> np.ndarray:
    """A real (procedural training-set) sprite for the forward process."""
    from ldm_sprites.demo_art import DEMO_CLASSES, make_demo_sprites

    name = class_name if class_name in DEMO_CLASSES else DEMO_CLASSES[0]
    images, _ = make_demo_sprites(1, size=size, seed=seed, classes=[name])
    return np.asarray(images[0], dtype=np.uint8)


# --- exporting --------------------------------------------------------------------------------

def export_zip(result: Result, out_dir: str | Path) -> str:
    """Export the shown (finished) sprites — PNGs, SVGs, stickers, sheet.png + sheet.json,
    manifest — into ``out_dir/export`` and zip that folder; returns the zip's path."""
    from ldm_sprites import api

    out = Path(out_dir)
    folder = out / "export"
    from ldm_sprites.export import ExportOptions

    api.export_sprites(api.sprites_to_export(result.sprites, result.names, seed=result.seed),
                       folder, ExportOptions(tileset=result.tileable))
    zpath = out / "sprites-export.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(folder).as_posix())
    return str(zpath)


# --- uploads ----------------------------------------------------------------------------------

def check_upload(path: str | Path, allowed_root: str | Path | None = None) -> np.ndarray:
    """An uploaded image -> (H, W, 4) uint8, or a one-line UserError: not in the upload folder,
    over ``MAX_UPLOAD_BYTES``, too many pixels (decompression bombs), or not an image."""
    from ldm_sprites.data.images import ImageDecodeError, load_rgba

    if not path:
        raise UserError("upload a sprite image first (PNG, GIF, WebP, BMP or JPEG)")
    p = Path(path).resolve()
    root = Path(allowed_root or tempfile.gettempdir()).resolve()
    if root not in p.parents:
        raise UserError(f"{p.name}: uploads are read only from the studio's temporary folder")
    size = p.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"{p.name} is {size / 2**20:.1f} MB; a sprite upload may be at most "
                        f"{MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        with Image.open(p) as img:
            w, h = img.size
    except Exception:  # noqa: BLE001 - load_rgba below gives the precise message
        w = h = 0
    if w * h > MAX_UPLOAD_PIXELS:
        raise UserError(f"{p.name} is {w}x{h} pixels, too large for a sprite "
                        "(decompression bomb?)")
    try:
        return load_rgba(p)
    except ImageDecodeError as exc:
        raise UserError(f"cannot use the upload: {exc}") from None


# --- editing ----------------------------------------------------------------------------------

def _edit_result(pipe, sprites, names, seed, fin, model, tileable=None) -> Result:
    return Result(sprites, list(names), seed, sprites, fin, None, model_path(model), tileable)


def vary(model, image: np.ndarray, strength: float = 0.5, count: int = 4, target_class=None,
         seed: int = 0, finish=None, sampler=None, steps=None, guidance=None,
         progress=None, cancel: CancelFlag | None = None, tiles: bool = False) -> Result:
    """Variations of ``image`` (SDEdit) — or, with ``target_class``, class transfer. ``tiles``:
    variants of a tile that still repeat without a seam, in one shared palette (shown 3 x 3)."""
    from ldm_sprites import api

    count = int(count)
    if not 1 <= count <= MAX_COUNT:
        raise UserError(f"count {count} must be between 1 and {MAX_COUNT}")
    pipe = get_pipeline(model)
    tileable = "xy" if tiles else None
    fin = tile_finish(api.finish_options(finish), tileable)
    sprites, names = api.vary(pipe, np.asarray(image, dtype=np.uint8), strength=float(strength),
                              num=count, classes=[target_class] if target_class else None,
                              seed=parse_seed(seed), finish=fin,
                              callback=_edit_callback(progress, cancel), tileable=tileable,
                              **_options(sampler, steps, guidance))
    return _edit_result(pipe, sprites, names, parse_seed(seed), fin, model, tileable)


def inpaint(model, image: np.ndarray, region: str, count: int = 4, target_class=None,
            seed: int = 0, finish=None, sampler=None, steps=None, guidance=None,
            progress=None, cancel: CancelFlag | None = None) -> Result:
    """Redraw the rectangle ``region`` 'x,y,w,h' of ``image`` (RePaint)."""
    from ldm_sprites import api

    count = int(count)
    if not 1 <= count <= MAX_COUNT:
        raise UserError(f"count {count} must be between 1 and {MAX_COUNT}")
    if not (region or "").strip():
        raise UserError("give the region to redraw as x,y,w,h (pixels of the sprite)")
    pipe = get_pipeline(model)
    fin = api.finish_options(finish)
    sprites, names = api.inpaint(pipe, np.asarray(image, dtype=np.uint8), region=region.strip(),
                                 num=count, classes=[target_class] if target_class else None,
                                 seed=parse_seed(seed), finish=fin,
                                 callback=_edit_callback(progress, cancel),
                                 **_options(sampler, steps, guidance))
    return _edit_result(pipe, sprites, names, parse_seed(seed), fin, model)


def _edit_callback(progress, cancel):
    count = [0]

    def callback(i, x_t, x0):
        if cancel is not None:
            cancel.check()
        count[0] += 1
        if progress is not None:
            progress(count[0], None)
    return callback


def new_workdir(root: str | Path | None = None) -> Path:
    """A fresh folder for one request's files under the studio's temporary folder."""
    base = Path(root or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="req-", dir=base))
