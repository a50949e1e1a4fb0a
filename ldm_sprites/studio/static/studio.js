// The studio page: plain DOM + fetch against the JSON API in server.py. The server holds the
// sprites (results and edit sources by id); this page holds only ids and shows files.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, result: null, source: null, job: null, region: null, size: 0 };

// --- plumbing --------------------------------------------------------------------------------

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError || /^Error/.test(text));
}

async function api(path, body, headers = {}) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json", ...headers },
    body: body instanceof Blob ? body : JSON.stringify(body) };
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new Error("Error: the studio does not answer (was it stopped?)");
  }
  const data = await res.json().catch(() => ({ error: `Error: HTTP ${res.status}` }));
  if (!res.ok || data.error) throw new Error(data.error || `Error: HTTP ${res.status}`);
  return data;
}

// run an async action; any failure is one line in the status box
async function guarded(fn) {
  try { await fn(); } catch (e) { say(String(e.message || e), true); }
}

function num(id) { const v = $(id).value.trim(); return v === "" ? null : Number(v); }

function finishOptions() {
  return { mode: $("fin-mode").value, max_colors: num("fin-colors") || null,
           shared: $("fin-shared").checked, alpha: num("fin-alpha") || null,
           despeckle: $("fin-despeckle").checked, outline: $("fin-outline").checked };
}

function options(select, values, chosen) {
  select.replaceChildren(...values.map((v) => {
    const o = document.createElement("option");
    o.value = v; o.textContent = v === "" ? "(same class)" : v;
    return o;
  }));
  if (chosen !== undefined) select.value = chosen;
}

// --- the model -------------------------------------------------------------------------------

function showInfo(info) {
  state.info = info;
  $("model").value = info.model;
  $("models").replaceChildren(...info.models.map((m) => {
    const o = document.createElement("option"); o.value = m; return o;
  }));
  $("classes").replaceChildren(...info.classes.map((c) => {
    const l = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.value = c;
    l.append(box, " " + c);
    return l;
  }));
  $("guidance").value = info.defaults.guidance;
  $("guidance-value").textContent = info.defaults.guidance;
  const keep = $("sampler").value;
  options($("sampler"), ["default", ...info.samplers],
          info.samplers.includes(keep) ? keep : "default");
  $("sampler").options[0].textContent = `default (${info.defaults.sampler}, ${info.defaults.steps} steps)`;
  options($("target"), ["", ...info.classes], "");
  if (!$("fwd-class").options.length) options($("fwd-class"), info.demo_classes);
  if (!$("fin-mode").options.length) options($("fin-mode"), info.finish_modes, "auto");
  $("count").max = info.max_count;
  $("generate").disabled = false;
  say(info.message);
}

async function loadModel(model) {
  say("Loading the model…");
  try {
    showInfo(await api("/api/info" + (model ? "?model=" + encodeURIComponent(model) : "")));
  } catch (e) {
    if (state.info) $("model").value = state.info.model;   // keep using the last good model
    throw e;
  }
}

// --- jobs: queue, progress, cancel -----------------------------------------------------------

function busy(on) {
  for (const id of ["generate", "vary", "inpaint"]) $(id).disabled = on;
  $("cancel").disabled = !on;
  $("progress").hidden = !on;
}

async function runJob(path, body) {
  let job = await api(path, body);
  state.job = job.id;
  busy(true);
  try {
    while (job.state === "queued" || job.state === "running") {
      if (job.state === "queued") {
        say(job.ahead ? `Queued: ${job.ahead} request(s) ahead…` : "Starting…");
        $("progress").removeAttribute("value");
      } else {
        say(job.total ? `sampling: step ${job.done} of ${job.total}` : `sampling: step ${job.done}`);
        if (job.total) { $("progress").max = job.total; $("progress").value = job.done; }
      }
      await new Promise((r) => setTimeout(r, 150));
      job = await api("/api/job/" + job.id);
    }
  } finally {
    state.job = null;
    busy(false);
  }
  if (job.state !== "done") throw new Error(job.message || "Error: the request failed");
  return job.result;
}

// --- galleries -------------------------------------------------------------------------------

function link(href, text) {
  const a = document.createElement("a");
  a.href = href + "?download"; a.textContent = text; a.download = "";
  return a;
}

function showGallery(target, result, onPick) {
  target.replaceChildren(...result.sprites.map((s, i) => {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = s.image; img.alt = s.caption; img.title = "click to edit this sprite";
    img.addEventListener("click", () => guarded(async () => {
      for (const f of target.children) f.classList.remove("selected");
      fig.classList.add("selected");
      await onPick(i);
    }));
    const cap = document.createElement("figcaption");
    const name = document.createElement("span");
    name.textContent = s.caption;
    cap.append(name, link(s.png, "PNG"), link(s.svg, "SVG"));
    fig.append(img, cap);
    return fig;
  }));
}

function picture(target, src, alt) {
  const img = document.createElement("img");
  img.src = src; img.alt = alt;
  target.replaceChildren(img);
}

async function pick(resultId, index) {
  const src = await api("/api/select", { result: resultId, index });
  setSource(src);
  say(src.message);
}

function showResult(result) {
  state.result = result.result;
  showGallery($("gallery"), result, (i) => pick(result.result, i));
  if (result.reverse) {
    picture($("reverse"), result.reverse.gif, "reverse process");
    picture($("reverse-strip"), result.reverse.strip, "reverse process steps");
  }
}

// --- the edit source: a canvas you drag a region on ------------------------------------------

function setSource(src) {
  state.source = src;
  state.region = null;
  $("region").value = "";
  const img = new Image();
  img.onload = () => { state.sourceImage = img; drawSource(); };
  img.src = src.image;
}

function drawSource() {
  const c = $("edit-source"), g = c.getContext("2d"), src = state.source;
  g.imageSmoothingEnabled = false;
  g.clearRect(0, 0, c.width, c.height);
  if (!src || !state.sourceImage) return;
  const s = c.width / Math.max(src.width, src.height);
  g.drawImage(state.sourceImage, 0, 0, src.width * s, src.height * s);
  const r = state.region;
  if (r) {
    g.strokeStyle = "#e8590c"; g.lineWidth = 2;
    g.setLineDash([6, 4]);
    g.strokeRect(r.x * s + 1, r.y * s + 1, r.w * s - 2, r.h * s - 2);
    g.fillStyle = "rgba(232, 89, 12, 0.15)";
    g.fillRect(r.x * s, r.y * s, r.w * s, r.h * s);
  }
}

function cellAt(ev) {
  const c = $("edit-source"), src = state.source, box = c.getBoundingClientRect();
  const n = Math.max(src.width, src.height);
  const clamp = (v, hi) => Math.min(hi - 1, Math.max(0, v));
  return { x: clamp(Math.floor((ev.clientX - box.left) / box.width * n), src.width),
           y: clamp(Math.floor((ev.clientY - box.top) / box.height * n), src.height) };
}

function dragRegion() {
  const c = $("edit-source");
  let start = null;
  const update = (ev) => {
    const p = cellAt(ev);
    state.region = { x: Math.min(start.x, p.x), y: Math.min(start.y, p.y),
                     w: Math.abs(p.x - start.x) + 1, h: Math.abs(p.y - start.y) + 1 };
    const r = state.region;
    $("region").value = `${r.x},${r.y},${r.w},${r.h}`;
    drawSource();
  };
  c.addEventListener("pointerdown", (ev) => {
    if (!state.source) return;
    start = cellAt(ev); c.setPointerCapture(ev.pointerId); update(ev);
  });
  c.addEventListener("pointermove", (ev) => { if (start) update(ev); });
  c.addEventListener("pointerup", () => { start = null; });
  $("region").addEventListener("change", () => {
    const m = $("region").value.split(",").map(Number);
    state.region = m.length === 4 && m.every(Number.isFinite)
      ? { x: m[0], y: m[1], w: m[2], h: m[3] } : null;
    drawSource();
  });
}

// --- the buttons -----------------------------------------------------------------------------

function wire() {
  document.querySelectorAll("nav [role=tab]").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll("nav [role=tab]").forEach((t) =>
      t.setAttribute("aria-selected", String(t === tab)));
    document.querySelectorAll("section.tab").forEach((s) => {
      s.hidden = s.id !== "tab-" + tab.dataset.tab;
    });
  }));
  $("model").addEventListener("change", () => guarded(() => loadModel($("model").value.trim())));
  $("guidance").addEventListener("input", () => { $("guidance-value").textContent = $("guidance").value; });
  $("strength").addEventListener("input", () => { $("strength-value").textContent = $("strength").value; });
  $("dice").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 2 ** 31); });

  $("generate").addEventListener("click", () => guarded(async () => {
    const classes = [...document.querySelectorAll("#classes input:checked")].map((b) => b.value);
    const result = await runJob("/api/generate", {
      model: $("model").value.trim(), classes, guidance: Number($("guidance").value),
      sampler: $("sampler").value, steps: num("steps") || null, seed: num("seed") ?? 0,
      count: num("count") ?? 16, tiles: $("tiles").checked, finish: finishOptions() });
    showResult(result);
    say(result.message);
  }));
  $("cancel").addEventListener("click", () => guarded(async () => {
    if (state.job) await api(`/api/job/${state.job}/cancel`, {});
  }));

  $("upload").addEventListener("change", () => guarded(async () => {
    const file = $("upload").files[0];
    if (!file) return;
    const limit = state.info ? state.info.max_upload_bytes : Infinity;
    if (file.size > limit) {
      throw new Error(`Error: ${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; a sprite ` +
                      `upload may be at most ${limit / 2 ** 20} MB`);
    }
    const src = await api("/api/upload", file, { "Content-Type": "application/octet-stream",
                                                 "X-Filename": encodeURIComponent(file.name) });
    setSource(src);
    say(src.message);
  }));
  for (const kind of ["vary", "inpaint"]) {
    $(kind).addEventListener("click", () => guarded(async () => {
      if (!state.source) throw new Error("Error: pick a sprite first: click a result or upload one");
      const result = await runJob("/api/" + kind, {
        model: $("model").value.trim(), source: state.source.source,
        strength: Number($("strength").value), count: num("edit-count") ?? 4,
        target: $("target").value, region: $("region").value.trim(), seed: num("seed") ?? 0,
        tiles: kind === "vary" && $("edit-tiles").checked, finish: finishOptions() });
      showGallery($("edit-gallery"), result, (i) => pick(result.result, i));
      say(result.message);
    }));
  }
  dragRegion();

  $("refinish").addEventListener("click", () => guarded(async () => {
    if (!state.result) throw new Error("Error: generate first");
    const result = await api("/api/refinish", { result: state.result, finish: finishOptions() });
    showResult(result);
    say(result.message);
  }));
  $("sheet").addEventListener("click", () => guarded(async () => {
    if (!state.result) throw new Error("Error: generate first: the sheet exports the current results");
    const out = await api("/api/export", { result: state.result });
    const a = link(out.zip, out.zip.split("/").pop());
    $("sheet-file").replaceChildren(a);
    a.click();
    say(out.message);
  }));
  $("forward-btn").addEventListener("click", () => guarded(async () => {
    const out = await api("/api/forward", { class: $("fwd-class").value });
    picture($("forward"), out.gif, "forward process");
    picture($("forward-strip"), out.strip, "forward process steps");
    say(out.message);
  }));
}

wire();
guarded(() => loadModel(new URLSearchParams(location.search).get("model")));
