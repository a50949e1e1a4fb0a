"""``ldmsprites studio``: serve the local web studio (``ldm_sprites/studio``; no extra needed)."""

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
    import atexit
    import shutil
    import tempfile
    import threading

    from PIL import Image

    from ldm_sprites.studio import actions
    from ldm_sprites.studio.server import Studio, make_server

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine on port "
                   f"{port} can use the studio (and its CPU/GPU).", err=True)
    # PIL refuses far bigger images outright (uploads are held to MAX_UPLOAD_PIXELS before that)
    Image.MAX_IMAGE_PIXELS = 16 * actions.MAX_UPLOAD_PIXELS
    # Uploads and every file the page serves live in one private temporary folder, removed
    # when the studio stops.
    root = tempfile.mkdtemp(prefix="ldmsprites-studio-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    server = make_server(Studio(root, model_dir), host, port)
    # Serve at once and load the model meanwhile: a browser opened now gets the page while
    # torch imports, and its first /api/info waits for the model (get_pipeline's lock). A
    # model that does not load still ends the command with one line and a non-zero exit.
    thread = threading.Thread(target=server.serve_forever, name="studio-http", daemon=True)
    thread.start()
    try:
        actions.get_pipeline(model_dir)
        click.echo(f"studio: http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/  "
                   "(Ctrl-C to stop)")
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        click.echo("studio: stopped")
    finally:
        server.shutdown()
        server.server_close()
