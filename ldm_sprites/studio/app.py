"""The studio's page: Gradio layout and wiring only; what each button does is in ``actions``.

Every handler goes through ``_guard``: a ``UserError`` (bad upload, unknown class, missing
autoencoder, ...) or any other exception becomes a one-line message in the page's status box,
the other outputs stay as they were, and the server keeps serving.
"""

from __future__ import annotations

import functools
import random
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from ldm_sprites.diffusion.options import SAMPLER_NAMES
from ldm_sprites.errors import UserError
from ldm_sprites.finish.finish import MODES
from ldm_sprites.studio import actions

CSS = """
.pixelated img, #gallery img, #edit-gallery img, #reverse img, #forward img {
  image-rendering: pixelated; image-rendering: crisp-edges; }
"""

# Cancel flags by browser session: Cancel sets the running request's flag and the sampler
# callback stops at its next step.
_CANCEL: dict[str, actions.CancelFlag] = {}
_CANCEL_LOCK = threading.Lock()


def _flag(request: gr.Request | None) -> actions.CancelFlag:
    key = getattr(request, "session_hash", None) or "-"
    flag = actions.CancelFlag()
    with _CANCEL_LOCK:
        _CANCEL[key] = flag
    return flag


def _cancel(request: gr.Request):
    key = getattr(request, "session_hash", None) or "-"
    with _CANCEL_LOCK:
        flag = _CANCEL.get(key)
    if flag is not None:
        flag.cancel()
    return "Cancelled."


def _message(exc: BaseException) -> str:
    if isinstance(exc, actions.Cancelled):
        return "Cancelled."
    if isinstance(exc, UserError):
        return f"Error: {exc.format_message()}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"Error: {type(exc).__name__}: {text}"


def _guard(n_outputs: int):
    """Wrap a handler whose *last* output is the status message: on any exception, every other
    output is left unchanged and the status says what went wrong (one line, no traceback)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
                msg = _message(exc)
                print(f"studio: {msg}", file=sys.stderr)
                return tuple(gr.skip() for _ in range(n_outputs - 1)) + (msg,)
        return inner
    return wrap


def _progress_fn(progress):
    def report(done, total):
        if total:
            progress((done, total), desc="sampling", unit="steps")
        else:
            progress((done, None), desc="sampling", unit="steps")
    return report


def _finish(mode, max_colors, shared, alpha, despeckle, outline):
    return actions.finish_from(mode, max_colors, shared, alpha, despeckle, outline)


def build(model: str | None = None, upload_root: str | None = None) -> gr.Blocks:
    """The page. ``model``: the model preselected in the picker (None: the bundled one);
    ``upload_root``: the only folder uploads are read from (Gradio's temporary folder).

    The tabs' components go into one namespace ``ui`` (created in page order), then the
    handlers are wired to them."""
    start_model = model or actions.BUNDLED
    classes0 = actions.model_classes(start_model)

    with gr.Blocks(title="ldm-sprites studio") as demo:
        ui = SimpleNamespace()
        ui.result = gr.State(None)        # actions.Result of the last generate (this tab)
        ui.selected = gr.State(0)         # index of the clicked gallery sprite
        gr.Markdown("# ldm-sprites studio\nClass-conditional latent diffusion for sprites.")
        ui.status = gr.Markdown("Ready.", elem_id="status")
        # Finish & export controls are created first (used by Generate), rendered later.
        ui.finish_inputs = _finish_controls()
        with gr.Tab("Generate"):
            _generate_tab(ui, start_model, classes0)
        with gr.Tab("Watch"):
            _watch_tab(ui)
        with gr.Tab("Edit"):
            _edit_tab(ui, classes0)
        with gr.Tab("Finish & export"):
            _export_tab(ui)
        _wire_generate(ui)
        _wire_results(ui)
        _wire_edit(ui, upload_root)
    return demo


def _finish_controls() -> list:
    fin_mode = gr.Radio(list(MODES), value="auto", label="finishing", render=False,
                        info="auto: the model's palette, hard alpha, clean pixels; "
                             "none: the raw sampler pixels")
    fin_colors = gr.Number(value=None, precision=0, label="max colours (0: the data's)",
                           render=False)
    fin_shared = gr.Checkbox(False, label="one shared palette for all sprites", render=False)
    fin_alpha = gr.Number(value=None, precision=0, label="alpha threshold (0: the data's)",
                          render=False)
    fin_despeckle = gr.Checkbox(True, label="despeckle", render=False)
    fin_outline = gr.Checkbox(False, label="1-px outline", render=False)
    return [fin_mode, fin_colors, fin_shared, fin_alpha, fin_despeckle, fin_outline]


def _generate_tab(ui, start_model: str, classes0: list[str]) -> None:
    defaults0 = actions.model_defaults(start_model)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            ui.model_in = gr.Dropdown([actions.BUNDLED], value=start_model,
                                      allow_custom_value=True, label="model",
                                      info="the bundled model, or a run / model directory "
                                           "path", elem_id="model")
            ui.classes_in = gr.Dropdown(classes0, value=[], multiselect=True,
                                        label="classes (none = all)", elem_id="classes")
            ui.guidance_in = gr.Slider(1.0, 10.0, value=defaults0["guidance"], step=0.25,
                                       label="guidance", elem_id="guidance")
            with gr.Row():
                ui.sampler_in = gr.Dropdown(["default"] + list(SAMPLER_NAMES),
                                            value="default", label="sampler",
                                            elem_id="sampler")
                ui.steps_in = gr.Number(value=None, precision=0, label="steps (0: the "
                                        "sampler's default)", elem_id="steps")
            with gr.Row():
                ui.seed_in = gr.Number(value=0, precision=0, label="seed", elem_id="seed")
                ui.dice = gr.Button("random seed", scale=0, min_width=80, elem_id="dice")
            ui.count_in = gr.Slider(1, actions.MAX_COUNT, value=16, step=1, label="count",
                                    elem_id="count")
            with gr.Row():
                ui.gen_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                ui.cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel")
        with gr.Column(scale=3):
            ui.gallery = gr.Gallery(label="results (click one to edit it)", format="png",
                                    columns=8, object_fit="none", height="auto",
                                    elem_id="gallery", elem_classes="pixelated",
                                    interactive=False)
            ui.downloads = gr.File(label="each sprite as PNG and SVG", file_count="multiple",
                                   elem_id="downloads", interactive=False)


def _watch_tab(ui) -> None:
    gr.Markdown("**Reverse process** of the first sprite of the last request, recorded "
                "from the sampler's callback: x_t (top) beside the model's x̂₀ (bottom).")
    with gr.Row():
        ui.reverse_gif = gr.Image(label="reverse process", type="filepath",
                                  elem_id="reverse", interactive=False)
        ui.reverse_strip = gr.Image(label="steps", type="filepath", interactive=False)
    gr.Markdown("**Forward process**: a real training sprite noised by q(x_t | x_0) under "
                "the cosine and linear schedules (the same noise at every t).")
    with gr.Row():
        ui.fwd_class = gr.Dropdown(_demo_classes(), value=_demo_classes()[0],
                                   label="sprite class")
        ui.fwd_btn = gr.Button("Noise a real sprite", elem_id="forward-btn")
    with gr.Row():
        ui.forward_img = gr.Image(label="forward process", type="filepath",
                                  elem_id="forward", interactive=False)
        ui.forward_strip = gr.Image(label="steps", type="filepath", interactive=False)


def _edit_tab(ui, classes0: list[str]) -> None:
    gr.Markdown("Edit the sprite you clicked in the results, or upload one.")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            ui.upload = gr.File(label="upload a sprite (PNG, GIF, WebP, BMP, JPEG)",
                                file_types=["image"], type="filepath", elem_id="upload")
            ui.source_img = gr.Image(label="sprite to edit", type="numpy",
                                     image_mode="RGBA", interactive=False, format="png",
                                     elem_id="edit-source", elem_classes="pixelated")
            ui.strength_in = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="strength "
                                       "(0 = keep, 1 = new sprite)")
            ui.edit_count = gr.Slider(1, 16, value=4, step=1, label="count")
            ui.target_in = gr.Dropdown([""] + classes0, value="", label="class transfer to "
                                       "(blank: same class)")
            ui.region_in = gr.Textbox(label="inpaint region x,y,w,h (sprite pixels)",
                                      placeholder="8,8,16,16")
            with gr.Row():
                ui.vary_btn = gr.Button("Variations / transfer", elem_id="vary")
                ui.inpaint_btn = gr.Button("Inpaint region", elem_id="inpaint")
        with gr.Column(scale=3):
            ui.edit_gallery = gr.Gallery(label="edits", format="png", columns=8,
                                         object_fit="none", height="auto",
                                         elem_id="edit-gallery", interactive=False)


def _export_tab(ui) -> None:
    gr.Markdown("Finishing applies to new results; *Apply* re-finishes the current ones "
                "(no new sampling).")
    for c in ui.finish_inputs:
        c.render()
    with gr.Row():
        ui.refinish_btn = gr.Button("Apply to current results", elem_id="refinish")
        ui.sheet_btn = gr.Button("Download sheet (zip of the export folder)",
                                 variant="primary", elem_id="sheet")
    ui.sheet_file = gr.File(label="export zip", elem_id="sheet-file", interactive=False)


def _wire_generate(ui) -> None:
    """The model picker, Generate, Cancel and the dice."""
    @_guard(3)
    def on_model(model_value):
        classes = actions.model_classes(model_value)
        d = actions.model_defaults(model_value)
        return (gr.update(choices=classes, value=[]), gr.update(value=d["guidance"]),
                f"Loaded {actions.model_path(model_value)}: {len(classes)} classes, "
                f"{d['sampler']} {d['steps']} steps, guidance {d['guidance']:g}.")

    ui.model_in.change(on_model, ui.model_in, [ui.classes_in, ui.guidance_in, ui.status])

    @_guard(7)
    def on_generate(model_value, classes, guidance, sampler, steps, seed, count, mode,
                    max_colors, shared, alpha, despeckle, outline, request: gr.Request,
                    progress=gr.Progress()):
        finish = _finish(mode, max_colors, shared, alpha, despeckle, outline)
        default_g = actions.model_defaults(model_value)["guidance"]
        g = None if guidance is None or abs(float(guidance) - default_g) < 1e-9 else guidance
        res = actions.generate(model_value, classes, count, seed, sampler, steps, g,
                               finish=finish, progress=_progress_fn(progress),
                               cancel=_flag(request))
        work = actions.new_workdir()
        files = actions.sprite_downloads(res, work / "sprites")
        gif, strip = actions.reverse_gif(res, work)
        return (actions.gallery_items(res), files, res, 0, gif, strip,
                f"{len(res.names)} sprites ({', '.join(sorted(set(res.names)))}), "
                f"seed {res.seed}.")

    gen_event = ui.gen_btn.click(lambda: "Sampling…", None, ui.status, queue=False).then(
        on_generate,
        [ui.model_in, ui.classes_in, ui.guidance_in, ui.sampler_in, ui.steps_in, ui.seed_in,
         ui.count_in, *ui.finish_inputs],
        [ui.gallery, ui.downloads, ui.result, ui.selected, ui.reverse_gif, ui.reverse_strip,
         ui.status])
    ui.cancel_btn.click(_cancel, None, ui.status, cancels=[gen_event], queue=False)
    ui.dice.click(lambda: random.randrange(2 ** 31), None, ui.seed_in, queue=False)


def _wire_results(ui) -> None:
    """Re-finish, the export zip, the forward process and picking a result to edit."""
    @_guard(4)
    def on_refinish(res, mode, max_colors, shared, alpha, despeckle, outline):
        if res is None:
            raise UserError("generate first")
        res = actions.refinish(res, _finish(mode, max_colors, shared, alpha, despeckle,
                                            outline))
        work = actions.new_workdir()
        return (actions.gallery_items(res), actions.sprite_downloads(res, work), res,
                "Re-finished the current results.")

    ui.refinish_btn.click(on_refinish, [ui.result, *ui.finish_inputs],
                          [ui.gallery, ui.downloads, ui.result, ui.status])

    @_guard(2)
    def on_sheet(res):
        if res is None:
            raise UserError("generate first: the sheet exports the current results")
        path = actions.export_zip(res, actions.new_workdir())
        return path, f"Exported {len(res.names)} sprites: {Path(path).name}."

    ui.sheet_btn.click(on_sheet, ui.result, [ui.sheet_file, ui.status])

    @_guard(3)
    def on_forward(class_name):
        gif, strip = actions.forward_gif(actions.demo_sprite(class_name),
                                         actions.new_workdir())
        return gif, strip, "Forward process rendered."

    ui.fwd_btn.click(on_forward, ui.fwd_class, [ui.forward_img, ui.forward_strip, ui.status])

    @_guard(3)
    def on_select(res, evt: gr.SelectData):
        if res is None or evt.index is None:
            return gr.skip(), gr.skip(), "Ready."
        i = int(evt.index if not isinstance(evt.index, (list, tuple)) else evt.index[0])
        return i, res.sprites[i], f"Selected sprite #{i} for editing."

    ui.gallery.select(on_select, ui.result, [ui.selected, ui.source_img, ui.status])


def _wire_edit(ui, upload_root: str | None) -> None:
    """Uploads, variations / class transfer and inpainting."""
    @_guard(2)
    def on_upload(path):
        rgba = actions.check_upload(path, upload_root)
        return rgba, f"Uploaded {Path(path).name} ({rgba.shape[1]}x{rgba.shape[0]})."

    ui.upload.upload(on_upload, ui.upload, [ui.source_img, ui.status])

    def _edit(kind):
        @_guard(2)
        def run(model_value, image, strength, count, target, region, seed, mode,
                max_colors, shared, alpha, despeckle, outline, request: gr.Request,
                progress=gr.Progress()):
            fin = (mode, max_colors, shared, alpha, despeckle, outline)
            if image is None:
                raise UserError("pick a sprite first: click a result or upload one")
            kwargs = dict(count=count, target_class=target or None, seed=seed,
                          finish=_finish(*fin), progress=_progress_fn(progress),
                          cancel=_flag(request))
            if kind == "vary":
                res = actions.vary(model_value, image, strength, **kwargs)
            else:
                res = actions.inpaint(model_value, image, region, **kwargs)
            return actions.gallery_items(res), f"{len(res.names)} edits ({kind})."
        return run

    edit_inputs = [ui.model_in, ui.source_img, ui.strength_in, ui.edit_count, ui.target_in,
                   ui.region_in, ui.seed_in, *ui.finish_inputs]
    vary_event = ui.vary_btn.click(_edit("vary"), edit_inputs, [ui.edit_gallery, ui.status])
    inpaint_event = ui.inpaint_btn.click(_edit("inpaint"), edit_inputs,
                                         [ui.edit_gallery, ui.status])
    ui.cancel_btn.click(None, None, None, cancels=[vary_event, inpaint_event], queue=False)
    ui.model_in.change(lambda m: gr.update(choices=[""] + _safe_classes(m)), ui.model_in,
                       ui.target_in)


def _safe_classes(model_value) -> list[str]:
    try:
        return actions.model_classes(model_value)
    except Exception:  # noqa: BLE001 - on_model reports the error in the status box
        return []


def _demo_classes() -> list[str]:
    from ldm_sprites.demo_art import DEMO_CLASSES

    return list(DEMO_CLASSES)


def launch(model: str | None = None, host: str = "127.0.0.1", port: int = 7860,
           upload_root: str | None = None, quiet: bool = False, block: bool = True):
    """Build the page and serve it (queue: one sampling run at a time, shared model cache)."""
    demo = build(model, upload_root)
    demo.queue(default_concurrency_limit=1, max_size=64)
    demo.launch(server_name=host, server_port=port, css=CSS, quiet=quiet,
                max_file_size=actions.MAX_UPLOAD_BYTES, show_error=False,
                footer_links=[], prevent_thread_lock=not block,
                allowed_paths=[upload_root] if upload_root else None)
    return demo
