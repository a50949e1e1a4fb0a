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
    ``upload_root``: the only folder uploads are read from (Gradio's temporary folder)."""
    start_model = model or actions.BUNDLED
    classes0 = actions.model_classes(start_model)
    defaults0 = actions.model_defaults(start_model)

    with gr.Blocks(title="ldm-sprites studio") as demo:
        result = gr.State(None)        # actions.Result of the last generate (this tab)
        selected = gr.State(0)         # index of the clicked gallery sprite
        gr.Markdown("# ldm-sprites studio\nClass-conditional latent diffusion for sprites.")
        status = gr.Markdown("Ready.", elem_id="status")

        # ---- Finish & export controls are created first (used by Generate), rendered later.
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
        finish_inputs = [fin_mode, fin_colors, fin_shared, fin_alpha, fin_despeckle, fin_outline]

        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    model_in = gr.Dropdown([actions.BUNDLED], value=start_model,
                                           allow_custom_value=True, label="model",
                                           info="the bundled model, or a run / model directory "
                                                "path", elem_id="model")
                    classes_in = gr.Dropdown(classes0, value=[], multiselect=True,
                                             label="classes (none = all)", elem_id="classes")
                    guidance_in = gr.Slider(1.0, 10.0, value=defaults0["guidance"], step=0.25,
                                            label="guidance", elem_id="guidance")
                    with gr.Row():
                        sampler_in = gr.Dropdown(["default"] + list(SAMPLER_NAMES),
                                                 value="default", label="sampler",
                                                 elem_id="sampler")
                        steps_in = gr.Number(value=None, precision=0, label="steps (0: the "
                                             "sampler's default)", elem_id="steps")
                    with gr.Row():
                        seed_in = gr.Number(value=0, precision=0, label="seed", elem_id="seed")
                        dice = gr.Button("random seed", scale=0, min_width=80, elem_id="dice")
                    count_in = gr.Slider(1, actions.MAX_COUNT, value=16, step=1, label="count",
                                         elem_id="count")
                    with gr.Row():
                        gen_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel")
                with gr.Column(scale=3):
                    gallery = gr.Gallery(label="results (click one to edit it)", format="png",
                                         columns=8, object_fit="none", height="auto",
                                         elem_id="gallery", elem_classes="pixelated",
                                         interactive=False)
                    downloads = gr.File(label="each sprite as PNG and SVG", file_count="multiple",
                                        elem_id="downloads", interactive=False)

        with gr.Tab("Watch"):
            gr.Markdown("**Reverse process** of the first sprite of the last request, recorded "
                        "from the sampler's callback: x_t (top) beside the model's x̂₀ (bottom).")
            with gr.Row():
                reverse_gif = gr.Image(label="reverse process", type="filepath",
                                       elem_id="reverse", interactive=False)
                reverse_strip = gr.Image(label="steps", type="filepath", interactive=False)
            gr.Markdown("**Forward process**: a real training sprite noised by q(x_t | x_0) under "
                        "the cosine and linear schedules (the same noise at every t).")
            with gr.Row():
                fwd_class = gr.Dropdown(_demo_classes(), value=_demo_classes()[0],
                                        label="sprite class")
                fwd_btn = gr.Button("Noise a real sprite", elem_id="forward-btn")
            with gr.Row():
                forward_img = gr.Image(label="forward process", type="filepath",
                                       elem_id="forward", interactive=False)
                forward_strip = gr.Image(label="steps", type="filepath", interactive=False)

        with gr.Tab("Edit"):
            gr.Markdown("Edit the sprite you clicked in the results, or upload one.")
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    upload = gr.File(label="upload a sprite (PNG, GIF, WebP, BMP, JPEG)",
                                     file_types=["image"], type="filepath", elem_id="upload")
                    source_img = gr.Image(label="sprite to edit", type="numpy",
                                          image_mode="RGBA", interactive=False, format="png",
                                          elem_id="edit-source", elem_classes="pixelated")
                    strength_in = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="strength "
                                            "(0 = keep, 1 = new sprite)")
                    edit_count = gr.Slider(1, 16, value=4, step=1, label="count")
                    target_in = gr.Dropdown([""] + classes0, value="", label="class transfer to "
                                            "(blank: same class)")
                    region_in = gr.Textbox(label="inpaint region x,y,w,h (sprite pixels)",
                                           placeholder="8,8,16,16")
                    with gr.Row():
                        vary_btn = gr.Button("Variations / transfer", elem_id="vary")
                        inpaint_btn = gr.Button("Inpaint region", elem_id="inpaint")
                with gr.Column(scale=3):
                    edit_gallery = gr.Gallery(label="edits", format="png", columns=8,
                                              object_fit="none", height="auto",
                                              elem_id="edit-gallery", interactive=False)

        with gr.Tab("Finish & export"):
            gr.Markdown("Finishing applies to new results; *Apply* re-finishes the current ones "
                        "(no new sampling).")
            for c in finish_inputs:
                c.render()
            with gr.Row():
                refinish_btn = gr.Button("Apply to current results", elem_id="refinish")
                sheet_btn = gr.Button("Download sheet (zip of the export folder)",
                                      variant="primary", elem_id="sheet")
            sheet_file = gr.File(label="export zip", elem_id="sheet-file", interactive=False)

        # ---------------------------------------------------------------- handlers
        @_guard(3)
        def on_model(model_value):
            classes = actions.model_classes(model_value)
            d = actions.model_defaults(model_value)
            return (gr.update(choices=classes, value=[]), gr.update(value=d["guidance"]),
                    f"Loaded {actions.model_path(model_value)}: {len(classes)} classes, "
                    f"{d['sampler']} {d['steps']} steps, guidance {d['guidance']:g}.")

        model_in.change(on_model, model_in, [classes_in, guidance_in, status])

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

        gen_event = gen_btn.click(lambda: "Sampling…", None, status, queue=False).then(
            on_generate,
            [model_in, classes_in, guidance_in, sampler_in, steps_in, seed_in, count_in,
             *finish_inputs],
            [gallery, downloads, result, selected, reverse_gif, reverse_strip, status])
        cancel_btn.click(_cancel, None, status, cancels=[gen_event], queue=False)
        dice.click(lambda: random.randrange(2 ** 31), None, seed_in, queue=False)

        @_guard(4)
        def on_refinish(res, mode, max_colors, shared, alpha, despeckle, outline):
            if res is None:
                raise UserError("generate first")
            res = actions.refinish(res, _finish(mode, max_colors, shared, alpha, despeckle,
                                                outline))
            work = actions.new_workdir()
            return (actions.gallery_items(res), actions.sprite_downloads(res, work), res,
                    "Re-finished the current results.")

        refinish_btn.click(on_refinish, [result, *finish_inputs],
                           [gallery, downloads, result, status])

        @_guard(2)
        def on_sheet(res):
            if res is None:
                raise UserError("generate first: the sheet exports the current results")
            path = actions.export_zip(res, actions.new_workdir())
            return path, f"Exported {len(res.names)} sprites: {Path(path).name}."

        sheet_btn.click(on_sheet, result, [sheet_file, status])

        @_guard(3)
        def on_forward(class_name):
            gif, strip = actions.forward_gif(actions.demo_sprite(class_name),
                                             actions.new_workdir())
            return gif, strip, "Forward process rendered."

        fwd_btn.click(on_forward, fwd_class, [forward_img, forward_strip, status])

        @_guard(3)
        def on_select(res, evt: gr.SelectData):
            if res is None or evt.index is None:
                return gr.skip(), gr.skip(), "Ready."
            i = int(evt.index if not isinstance(evt.index, (list, tuple)) else evt.index[0])
            return i, res.sprites[i], f"Selected sprite #{i} for editing."

        gallery.select(on_select, result, [selected, source_img, status])

        @_guard(2)
        def on_upload(path):
            rgba = actions.check_upload(path, upload_root)
            return rgba, f"Uploaded {Path(path).name} ({rgba.shape[1]}x{rgba.shape[0]})."

        upload.upload(on_upload, upload, [source_img, status])

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

        edit_inputs = [model_in, source_img, strength_in, edit_count, target_in, region_in,
                       seed_in, *finish_inputs]
        vary_event = vary_btn.click(_edit("vary"), edit_inputs, [edit_gallery, status])
        inpaint_event = inpaint_btn.click(_edit("inpaint"), edit_inputs, [edit_gallery, status])
        cancel_btn.click(None, None, None, cancels=[vary_event, inpaint_event], queue=False)
        model_in.change(lambda m: gr.update(choices=[""] + _safe_classes(m)), model_in,
                        target_in)
    return demo


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
