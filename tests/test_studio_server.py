"""The studio's HTTP/JSON server, in process (no browser): routes, the job queue, errors as one
line, uploads and files held to the private folder, other sites refused, the CLI's binding."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ldm_sprites.errors import UserError
from ldm_sprites.studio import actions, server as srv
from tests.helpers import unzoom


@pytest.fixture(scope="module")
def studio(tiny_model, tmp_path_factory):
    st = srv.Studio(tmp_path_factory.mktemp("studio-root"), str(tiny_model))
    httpd = srv.make_server(st, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield st, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.request(method, path, body=data, headers=headers or {})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, raw, resp.getheader("Content-Type") or ""


def _json(port, method, path, body=None, headers=None):
    status, raw, _ = _request(port, method, path, body, headers)
    return status, json.loads(raw)


def _wait(port, job: dict, timeout=120) -> dict:
    end = time.monotonic() + timeout
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < end, job
        time.sleep(0.05)
        _, job = _json(port, "GET", f"/api/job/{job['id']}")
    return job


def _pixels(port, url, size) -> np.ndarray:
    status, raw, _ = _request(port, "GET", url)
    assert status == 200
    return unzoom(np.asarray(Image.open(io.BytesIO(raw)).convert("RGBA")), size)


def test_page_and_static_files_are_served(studio):
    _, port = studio
    status, raw, ctype = _request(port, "GET", "/")
    assert status == 200 and "text/html" in ctype and b'id="generate"' in raw
    for name in ("studio.js", "studio.css"):
        status, raw, _ = _request(port, "GET", f"/static/{name}")
        assert status == 200 and len(raw) > 500
    status, body = _json(port, "GET", "/static/..%2Fserver.py")
    assert status == 404 and body["error"] == "Error: no such file"
    assert _json(port, "GET", "/nowhere")[0] == 404
    assert _request(port, "GET", "/favicon.ico")[0] == 204


def test_info_lists_the_models_classes_and_defaults(studio, tiny_model):
    st, port = studio
    status, info = _json(port, "GET", "/api/info")
    pipe = actions.get_pipeline(str(tiny_model))
    assert status == 200 and info["classes"] == list(pipe.classes)
    d = pipe.sampling_options()
    assert info["defaults"] == {"sampler": d.sampler, "steps": d.steps, "guidance": d.guidance}
    assert info["models"][:2] == [actions.BUNDLED, str(tiny_model)]     # then any loaded since
    status, body = _json(port, "GET", "/api/info?model=/no/such/model")
    assert status == 400 and body["error"].startswith("Error: model '/no/such/model' does not")


def test_generate_job_shows_the_cli_pixels_and_progress(studio, tiny_model):
    _, port = studio
    cls = actions.model_classes(str(tiny_model))[0]
    status, job = _json(port, "POST", "/api/generate",
                        {"classes": [cls], "count": 3, "seed": 11, "sampler": "default",
                         "steps": None, "guidance": 3.0, "finish": {"mode": "auto"}})
    assert status == 200 and job["state"] in ("queued", "running", "done")
    job = _wait(port, job)
    assert job["state"] == "done" and job["done"] == job["total"] > 0
    res = job["result"]
    assert job["message"] == f"3 sprites ({cls}), seed 11."
    want = actions.generate(str(tiny_model), [cls], 3, 11, record=False)
    for i, item in enumerate(res["sprites"]):
        np.testing.assert_array_equal(_pixels(port, item["image"], res["size"]), want.sprites[i])
        np.testing.assert_array_equal(_pixels(port, item["png"], res["size"]), want.sprites[i])
        status, raw, ctype = _request(port, "GET", item["svg"] + "?download")
        assert status == 200 and "svg" in ctype and b"<svg" in raw
    assert _request(port, "GET", res["reverse"]["gif"])[0] == 200

    # the result lives in the server: re-finish it, export it, pick a sprite for editing
    status, out = _json(port, "POST", "/api/refinish",
                        {"result": res["result"], "finish": {"mode": "none"}})
    assert status == 200 and out["result"] == res["result"]
    np.testing.assert_array_equal(_pixels(port, out["sprites"][0]["image"], res["size"]),
                                  want.raw[0])
    status, out = _json(port, "POST", "/api/export", {"result": res["result"]})
    status, raw, _ = _request(port, "GET", out["zip"])
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        assert {"sheet.png", "sheet.json", "manifest.json"} <= set(zf.namelist())
    status, src = _json(port, "POST", "/api/select", {"result": res["result"], "index": 2})
    assert status == 200 and src["message"] == "Selected sprite #2 for editing."
    status, body = _json(port, "POST", "/api/select", {"result": res["result"], "index": 9})
    assert status == 400 and body["error"] == "Error: no sprite #9 in that result"

    # edits are queued jobs too; inpainting needs a region
    status, job = _json(port, "POST", "/api/vary", {"source": src["source"], "count": 2,
                                                     "strength": 0.4, "seed": 1})
    job = _wait(port, job)
    assert job["state"] == "done" and len(job["result"]["sprites"]) == 2
    assert [s["name"] for s in job["result"]["sprites"]] == [res["sprites"][2]["name"]] * 2
    status, body = _json(port, "POST", "/api/inpaint", {"source": src["source"], "region": ""})
    assert status == 400 and "draw the region" in body["error"]
    status, job = _json(port, "POST", "/api/inpaint", {"source": src["source"], "count": 1,
                                                        "region": "2,2,6,6", "seed": 1})
    assert _wait(port, job)["state"] == "done"


def test_bad_requests_are_one_line_errors_and_the_server_keeps_serving(studio):
    _, port = studio
    status, body = _json(port, "POST", "/api/generate", {"seed": "abc"})
    assert status == 400 and body["error"] == "Error: seed 'abc' must be a whole number"
    status, job = _json(port, "POST", "/api/generate", {"classes": ["no-such-class"], "count": 2})
    job = _wait(port, job)
    assert job["state"] == "error" and job["message"].startswith("Error: ")
    assert "no-such-class" in job["message"] and "\n" not in job["message"]
    status, body = _json(port, "POST", "/api/generate", b"{not json")
    assert status == 400 and body["error"] == "Error: the request is not JSON"
    status, body = _json(port, "POST", "/api/export", {"result": "gone"})
    assert status == 400 and "is gone" in body["error"]
    assert _json(port, "GET", "/api/job/j999999")[0] == 400
    assert _json(port, "GET", "/api/info")[0] == 200


def test_cancel_stops_a_running_job(studio):
    _, port = studio
    _, job = _json(port, "POST", "/api/generate", {"count": 64, "sampler": "ddpm", "seed": 1})
    while job["state"] == "queued" or (job["state"] == "running" and job["done"] < 2):
        time.sleep(0.02)
        _, job = _json(port, "GET", f"/api/job/{job['id']}")
    _json(port, "POST", f"/api/job/{job['id']}/cancel", {})
    job = _wait(port, job)
    assert job["state"] == "cancelled" and job["message"] == "Cancelled."
    assert job["done"] < job["total"]


def test_uploads_are_checked_and_stay_in_the_private_folder(studio, tmp_path):
    st, port = studio
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 4), 200, np.uint8)).save(buf, "PNG")
    status, out = _json(port, "POST", "/api/upload", buf.getvalue(),
                        {"X-Filename": "..%2F..%2Fevil.png"})
    assert status == 200 and out["message"] == "Uploaded evil.png (16x16)."
    assert not (st.root.parent / "evil.png").exists()
    assert all(st.root in p.resolve().parents for p in st.root.rglob("upload*"))
    status, body = _json(port, "POST", "/api/upload", b"\x89PNG\r\n\x1a\nnot really")
    assert status == 400 and body["error"].startswith("Error: cannot use the upload")
    big = b"\0" * (actions.MAX_UPLOAD_BYTES + 1)
    status, body = _json(port, "POST", "/api/upload", big)
    assert status == 400 and "may be at most 4 MB" in body["error"]
    bomb = io.BytesIO()
    Image.new("L", (2048, 2048)).save(bomb, "PNG")       # tiny file, 4 megapixels
    status, body = _json(port, "POST", "/api/upload", bomb.getvalue())
    assert status == 400 and "decompression bomb" in body["error"]


def test_files_outside_the_private_folder_are_not_served(studio):
    st, port = studio
    secret = st.root.parent / "secret.txt"
    secret.write_text("no")
    for path in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files//etc/passwd"):
        assert _request(port, "GET", path)[0] == 404, path


def test_posts_from_other_sites_are_refused(studio):
    _, port = studio
    status, body = _json(port, "POST", "/api/generate", {"count": 1},
                         {"Origin": "http://evil.example"})
    assert status == 403 and "other sites" in body["error"]
    status, _ = _json(port, "POST", "/api/forward", {"class": "fire"},
                      {"Origin": f"http://127.0.0.1:{port}", "Host": f"127.0.0.1:{port}"})
    assert status == 200


def test_a_taken_port_is_a_one_line_error(studio):
    st, port = studio
    with pytest.raises(UserError, match="pass another --port"):
        srv.make_server(st, "127.0.0.1", port)


def test_studio_command_binds_localhost_and_warns_for_0000(monkeypatch, tiny_model):
    from ldm_sprites.cli import cli

    calls = []

    class FakeServer:
        def serve_forever(self):
            pass

        def server_close(self):
            pass

        def shutdown(self):
            pass

    def fake(studio, host, port):
        calls.append({"host": host, "port": port, "root": studio.root})
        return FakeServer()

    monkeypatch.setattr(srv, "make_server", fake)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    res = CliRunner().invoke(cli, ["studio", "--model", str(tiny_model)])
    assert res.exit_code == 0, res.output
    assert calls[-1]["host"] == "127.0.0.1" and "warning" not in res.output
    res = CliRunner().invoke(cli, ["studio", "--model", str(tiny_model), "--host", "0.0.0.0",
                                   "--port", "9"])
    assert res.exit_code == 0 and "warning" in res.output and "anyone" in res.output
    assert calls[-1]["host"] == "0.0.0.0" and calls[-1]["port"] == 9
    assert Path(tempfile.gettempdir()).resolve() in Path(calls[-1]["root"]).parents
    res = CliRunner().invoke(cli, ["studio", "--model", "/no/such/model"])
    assert res.exit_code != 0 and "does not exist" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_a_taken_port_from_the_command_line(tiny_model):
    from ldm_sprites.cli import cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        res = CliRunner().invoke(cli, ["studio", "--model", str(tiny_model), "--port",
                                       str(s.getsockname()[1])])
    assert res.exit_code != 0 and "pass another --port" in res.output


def test_old_request_folders_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(srv, "KEEP_DIRS", 3)
    st = srv.Studio(tmp_path / "root")
    made = []
    for i in range(5):
        made.append(st.workdir())
        (made[-1] / "f.png").write_bytes(b"x")
        os.utime(made[-1], (1000 + i, 1000 + i))     # creation order, whatever the clock says
    assert [d.exists() for d in made] == [False, False, True, True, True]


def test_job_queue_runs_in_order_reports_position_and_drops_cancelled_jobs():
    from ldm_sprites.studio.jobs import JobQueue

    q, gate, ran = JobQueue(), threading.Event(), []

    def blocking(job):
        gate.wait(30)
        ran.append("first")
        return {"message": "first done"}

    first = q.submit("generate", blocking)
    second = q.submit("generate", lambda job: ran.append("second") or {"message": "ok"})
    third = q.submit("vary", lambda job: ran.append("third") or {})
    end = time.monotonic() + 10
    while first.state != "running" and time.monotonic() < end:
        time.sleep(0.01)
    assert q.ahead_of(first) == 0 and q.ahead_of(second) == 1 and q.ahead_of(third) == 2
    third.cancel()                                   # cancelled while queued: never runs
    gate.set()
    while third.state in ("queued", "running") and time.monotonic() < end:
        time.sleep(0.01)
    assert ran == ["first", "second"]
    assert (first.state, first.message) == ("done", "first done")
    assert (third.state, third.message) == ("cancelled", "Cancelled.")
    assert first.as_dict()["result"] == {"message": "first done"}
