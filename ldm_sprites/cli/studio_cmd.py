"""``ldmsprites studio``: serve the local web studio (Gradio, the optional ``ui`` extra)."""

from __future__ import annotations

import click


@click.command("studio")
@click.option("--model", "model_dir", default=None, type=click.Path(),
              help="Model directory or training run preselected in the page (default: the "
                   "bundled demo model).")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets anyone on the network use it.")
def studio(model_dir, port, host):
    """Open a local web app: generate, watch, edit, finish and export sprites in the browser."""
    from ldm_sprites.studio import INSTALL_HINT, gradio_available

    if not gradio_available():
        raise click.ClickException(INSTALL_HINT)
    import atexit
    import os
    import shutil
    import tempfile

    # Uploads and every file the page serves live in one private temporary folder, removed
    # when the studio stops.
    upload_root = tempfile.mkdtemp(prefix="ldmsprites-studio-")
    atexit.register(shutil.rmtree, upload_root, ignore_errors=True)
    os.environ["GRADIO_TEMP_DIR"] = upload_root
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine on port "
                   f"{port} can use the studio (and its CPU/GPU).", err=True)
    from PIL import Image

    from ldm_sprites.studio import actions
    from ldm_sprites.studio.app import launch

    # PIL refuses far bigger images outright (uploads are held to MAX_UPLOAD_PIXELS before that)
    Image.MAX_IMAGE_PIXELS = 16 * actions.MAX_UPLOAD_PIXELS
    actions.get_pipeline(model_dir)  # load (and check) the model before serving
    click.echo(f"studio: http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/  "
               "(Ctrl-C to stop)")
    launch(model_dir, host=host, port=port, upload_root=upload_root, quiet=True)
