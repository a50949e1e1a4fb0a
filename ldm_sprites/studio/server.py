"""The studio's web server: Python's own ``http.server`` serving one static page and a small
JSON API over ``actions``. No web framework: Gradio alone took 7 CPU-s to import on a 2-core
CPU, more than the studio's whole 5 s start budget (docs/benchmarks.md#studio).

Routes (every error is ``{"error": "Error: one line"}`` with a 4xx status, never a traceback):

- ``GET /``, ``GET /static/NAME`` — the page (``static/``).
- ``GET /api/info?model=M`` — classes, the model's sampling defaults, samplers, finish modes.
- ``POST /api/generate | vary | inpaint`` — queue a sampling job; ``GET /api/job/ID`` polls it
  (state, sampler step, message, result); ``POST /api/job/ID/cancel`` stops it at its next step.
- ``POST /api/refinish | export | forward | select | upload`` — quick actions answered at once.
- ``GET /files/PATH`` — files the studio wrote, only from its private temporary folder.

Results and edit sources live in the server (bounded LRU maps) under short ids the page holds,
so tabs never send sprites back and forth and share one loaded model.
"""

from __future__ import annotations

import json
import mimetypes
import re
import shutil
import sys
import threading
import uuid
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from ldm_sprites.errors import UserError
from ldm_sprites.studio import actions
from ldm_sprites.studio.jobs import JobQueue, one_line

STATIC = Path(__file__).with_name("static")
MAX_JSON_BYTES = 64 * 1024
KEEP = 64                     # results and edit sources remembered (oldest forgotten first)
KEEP_DIRS = 4 * KEEP          # request folders kept on disk (a result writes one or two)
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class _Lru:
    """Values under short random ids, the oldest forgotten past ``KEEP`` (thread-safe: request
    threads and the job worker both use it)."""

    def __init__(self):
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, value) -> str:
        key = uuid.uuid4().hex[:12]
        with self._lock:
            self._items[key] = value
            while len(self._items) > KEEP:
                self._items.popitem(last=False)
        return key

    def take(self, key: str, what: str):
        with self._lock:
            if key not in self._items:
                raise UserError(f"that {what} is gone (the studio keeps the last {KEEP}): "
                                "generate again")
            self._items.move_to_end(key)
            return self._items[key]


class Studio:
    """What the server holds: the private folder, the job queue, results and edit sources."""

    def __init__(self, root: str | Path, model: str | None = None):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.model = model or actions.BUNDLED
        self.jobs = JobQueue()
        self.results = _Lru()
        self.sources = _Lru()
        self._dirs_lock = threading.Lock()

    # --- helpers ------------------------------------------------------------------------------

    def url(self, path: str | Path) -> str:
        return "/files/" + Path(path).resolve().relative_to(self.root).as_posix()

    def workdir(self) -> Path:
        """A new folder for one request's files; the oldest beyond ``KEEP_DIRS`` are removed so
        a studio left open for days does not fill the disk (their results are long forgotten)."""
        with self._dirs_lock:
            dirs = sorted(self.root.glob("req-*"), key=lambda p: p.stat().st_mtime)
            for old in dirs[:max(0, len(dirs) - KEEP_DIRS + 1)]:
                shutil.rmtree(old, ignore_errors=True)
            return actions.new_workdir(self.root)

    def _finish(self, body: dict):
        f = body.get("finish") or {}
        return actions.finish_from(f.get("mode", "auto"), f.get("max_colors"),
                                   f.get("shared", False), f.get("alpha"),
                                   f.get("despeckle", True), f.get("outline", False))

    def _result_payload(self, rid: str, res: actions.Result, message: str,
                        reverse: bool = False) -> dict:
        """The files the page shows for one result: zoomed gallery PNGs, each sprite as PNG and
        SVG, and (after generate) the reverse-process GIF of the first sprite."""
        work = self.workdir()
        gallery = work / "gallery"
        gallery.mkdir()
        downloads = actions.sprite_downloads(res, work / "sprites")
        items = []
        for i, ((image, caption), name) in enumerate(zip(actions.gallery_items(res), res.names)):
            path = gallery / f"{i:03d}.png"
            image.save(path)
            items.append({"name": name, "caption": caption, "image": self.url(path),
                          "png": self.url(downloads[2 * i]), "svg": self.url(downloads[2 * i + 1])})
        out = {"result": rid, "seed": res.seed, "size": int(res.sprites.shape[1]),
               "sprites": items, "message": message}
        if reverse and res.reverse is not None:
            gif, strip = actions.reverse_gif(res, work)
            out["reverse"] = {"gif": self.url(gif), "strip": self.url(strip)}
        return out

    def _source_payload(self, sid: str, rgba: np.ndarray, message: str) -> dict:
        path = self.workdir() / "source.png"
        actions.zoom(rgba, max(1, 256 // max(rgba.shape[:2]))).save(path)
        return {"source": sid, "image": self.url(path), "width": int(rgba.shape[1]),
                "height": int(rgba.shape[0]), "message": message}

    # --- quick actions -----------------------------------------------------------------------

    def info(self, model: str | None) -> dict:
        from ldm_sprites.demo_art import DEMO_CLASSES
        from ldm_sprites.diffusion.choices import SAMPLER_NAMES
        from ldm_sprites.finish.finish import MODES

        model = model or self.model
        classes = actions.model_classes(model)
        d = actions.model_defaults(model)
        # the picker offers the bundled model, the one the studio started with and any loaded since
        # ... and every other bundled model by name (runtime.BUNDLED_MODELS)
        from ldm_sprites.runtime import DEFAULT_MODEL, bundled_names

        seen, models = {str(Path(actions.model_path(None)).resolve())}, [actions.BUNDLED]
        others = [n for n in bundled_names() if n != DEFAULT_MODEL]
        for m in [self.model, *others, *actions.loaded_models()]:
            key = str(Path(actions.model_path(m)).resolve())
            if key not in seen:
                seen.add(key)
                models.append(m)
        return {"model": model, "models": models, "classes": classes,
                "defaults": {k: d[k] for k in ("sampler", "steps", "guidance")},
                "samplers": list(SAMPLER_NAMES), "finish_modes": list(MODES),
                "demo_classes": list(DEMO_CLASSES), "max_count": actions.MAX_COUNT,
                "max_upload_bytes": actions.MAX_UPLOAD_BYTES,
                "message": f"Loaded {actions.model_path(model)}: {len(classes)} classes, "
                           f"{d['sampler']} {d['steps']} steps, guidance {d['guidance']:g}."}

    def refinish(self, body: dict) -> dict:
        rid = str(body.get("result", ""))
        res = actions.refinish(self.results.take(rid, "result"), self._finish(body))
        return self._result_payload(rid, res, "Re-finished the current results.")

    def export(self, body: dict) -> dict:
        res = self.results.take(str(body.get("result", "")), "result")
        path = actions.export_zip(res, self.workdir())
        return {"zip": self.url(path), "message": f"Exported {len(res.names)} sprites: "
                                                  f"{Path(path).name}."}

    def forward(self, body: dict) -> dict:
        gif, strip = actions.forward_gif(actions.demo_sprite(body.get("class")), self.workdir())
        return {"gif": self.url(gif), "strip": self.url(strip),
                "message": "Forward process rendered."}

    def select(self, body: dict) -> dict:
        res = self.results.take(str(body.get("result", "")), "result")
        i = int(body.get("index", 0))
        if not 0 <= i < len(res.sprites):
            raise UserError(f"no sprite #{i} in that result")
        sid = self.sources.put((np.array(res.sprites[i]), res.names[i]))
        return self._source_payload(sid, res.sprites[i], f"Selected sprite #{i} for editing.")

    def upload(self, name: str, data: bytes) -> dict:
        folder = self.workdir()
        suffix = Path(name).suffix.lower()
        path = folder / ("upload" + (suffix if SAFE_NAME.match(suffix) else ""))
        path.write_bytes(data)
        rgba = actions.check_upload(path, self.root)
        sid = self.sources.put((rgba, _stem(name)))
        shown = Path(name).name[:80] or "the upload"
        return self._source_payload(sid, rgba, f"Uploaded {shown} ({rgba.shape[1]}x"
                                               f"{rgba.shape[0]}).")

    # --- queued sampling jobs ----------------------------------------------------------------

    def submit_generate(self, body: dict):
        model = body.get("model") or self.model
        fin = self._finish(body)
        guidance = body.get("guidance")
        if guidance not in (None, ""):
            default = actions.model_defaults(model)["guidance"]
            guidance = None if abs(float(guidance) - default) < 1e-9 else float(guidance)
        args = (model, body.get("classes") or [], body.get("count", 16), body.get("seed", 0),
                body.get("sampler"), body.get("steps"), guidance)
        actions.parse_seed(args[3])                     # bad input fails before queueing

        tiles = bool(body.get("tiles", False))

        def run(job):
            res = actions.generate(*args, finish=fin, progress=job.progress, cancel=job.flag,
                                   tiles=tiles)
            rid = self.results.put(res)
            names = ", ".join(sorted(set(res.names)))
            what = "seamless tiles, shown 3x3" if tiles else "sprites"
            return self._result_payload(rid, res, f"{len(res.names)} {what} ({names}), seed "
                                                  f"{res.seed}.", reverse=True)
        return self.jobs.submit("generate", run)

    def submit_edit(self, kind: str, body: dict):
        model = body.get("model") or self.model
        image, name = self.sources.take(str(body.get("source", "")), "sprite to edit")
        fin = self._finish(body)
        kwargs = dict(count=body.get("count", 4), target_class=body.get("target") or None,
                      seed=body.get("seed", 0), finish=fin, sampler=body.get("sampler"),
                      steps=body.get("steps"))
        if kind == "inpaint" and not str(body.get("region") or "").strip():
            raise UserError("draw the region to redraw on the sprite (or type x,y,w,h)")

        def run(job):
            cb = dict(progress=job.progress, cancel=job.flag)
            if kind == "vary":
                res = actions.vary(model, image, float(body.get("strength", 0.5)), **kwargs, **cb,
                                   tiles=bool(body.get("tiles", False)))
            else:
                res = actions.inpaint(model, image, str(body["region"]), **kwargs, **cb)
            if not kwargs["target_class"]:      # edits keep the source's name (its class)
                res.names = [name] * len(res.names)
            rid = self.results.put(res)
            tiles = ", seamless tiles shown 3x3" if res.tileable else ""
            return self._result_payload(rid, res, f"{len(res.names)} edits ({kind}{tiles}).")
        return self.jobs.submit(kind, run)


def _stem(filename: str) -> str:
    """An upload's name as a sprite name: the file's stem, only safe characters."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(filename).stem).strip("-")
    return stem[:40] or "upload"


class Handler(BaseHTTPRequestHandler):
    studio: Studio                        # set on the subclass ``make_server`` builds
    protocol_version = "HTTP/1.1"
    server_version = "ldm-sprites-studio"

    def log_message(self, fmt, *args):    # quiet: errors are printed by the job queue
        pass

    # --- plumbing ----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: dict, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, message: str, status: int = 400) -> None:
        print(f"studio: {message}", file=sys.stderr, flush=True)
        self._json({"error": message}, status)

    def _file(self, path: Path, download: bool = False) -> None:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        extra = {"Content-Disposition": f'attachment; filename="{path.name}"'} if download else {}
        self._send(200, path.read_bytes(), ctype, extra)

    def _body(self, limit: int) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            # drain what a browser already sent (up to a bound) so it can read the answer
            if length <= 16 * limit:
                self.rfile.read(length)
            else:
                self.close_connection = True
            raise UserError(f"the upload is {length / 2**20:.1f} MB; a sprite upload may be at "
                            f"most {limit // 2**20} MB" if limit >= 2**20 else
                            f"request too large ({length} bytes)")
        return self.rfile.read(length) if length else b""

    def _same_origin(self) -> bool:
        """Refuse POSTs from other web sites (a page elsewhere must not drive your CPU)."""
        origin = self.headers.get("Origin")
        return origin is None or urlparse(origin).netloc == self.headers.get("Host")

    # --- routes ------------------------------------------------------------------------------

    def do_GET(self):  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        try:
            if path in ("/", "/index.html"):
                return self._file(STATIC / "index.html")
            if path == "/favicon.ico":            # browsers ask; there is none
                return self._send(204, b"", "image/x-icon")
            if path.startswith("/static/"):
                name = path[len("/static/"):]
                if SAFE_NAME.match(name) and (STATIC / name).is_file():
                    return self._file(STATIC / name)
                return self._error("Error: no such file", 404)
            if path == "/api/info":
                return self._json(self.studio.info((query.get("model") or [None])[0]))
            if path.startswith("/api/job/"):
                job = self.studio.jobs.get(path.rsplit("/", 1)[-1])
                return self._json(job.as_dict(self.studio.jobs.ahead_of(job)))
            if path.startswith("/files/"):
                target = (self.studio.root / path[len("/files/"):]).resolve()
                if self.studio.root in target.parents and target.is_file():
                    return self._file(target, download="download" in query)
                return self._error("Error: no such file", 404)
            return self._error("Error: no such page", 404)
        except Exception as exc:  # noqa: BLE001 - one line in the page, the server keeps serving
            return self._error(one_line(exc))

    def do_POST(self):  # noqa: N802
        path = urlparse(self.path).path
        try:
            if not self._same_origin():
                self._body(MAX_JSON_BYTES)
                return self._error("Error: requests from other sites are refused", 403)
            if path == "/api/upload":
                data = self._body(actions.MAX_UPLOAD_BYTES)
                name = unquote(self.headers.get("X-Filename") or "upload")
                return self._json(self.studio.upload(name, data))
            raw = self._body(MAX_JSON_BYTES)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise UserError("the request is not JSON") from None
            if not isinstance(body, dict):
                raise UserError("the request must be a JSON object")
            if path.startswith("/api/job/") and path.endswith("/cancel"):
                job = self.studio.jobs.get(path.split("/")[3])
                job.cancel()
                return self._json(job.as_dict())
            if path == "/api/generate":
                return self._json(self.studio.submit_generate(body).as_dict())
            if path in ("/api/vary", "/api/inpaint"):
                return self._json(self.studio.submit_edit(path.rsplit("/", 1)[-1], body).as_dict())
            quick = {"/api/refinish": self.studio.refinish, "/api/export": self.studio.export,
                     "/api/forward": self.studio.forward, "/api/select": self.studio.select}
            if path in quick:
                return self._json(quick[path](body))
            return self._error("Error: no such action", 404)
        except Exception as exc:  # noqa: BLE001
            return self._error(one_line(exc))

    do_HEAD = do_GET


def make_server(studio: Studio, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("StudioHandler", (Handler,), {"studio": studio})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass another "
                        "--port") from None
    server.daemon_threads = True
    return server
