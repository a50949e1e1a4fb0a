"""``ldmsprites studio``: a local Gradio web app over ``ldm_sprites.api``.

``actions`` holds what the buttons do as plain, testable functions; ``app`` only lays out the
page and wires the buttons to them. Gradio is an optional extra: ``pip install -e ".[ui]"``.
"""

INSTALL_HINT = 'the studio needs Gradio: pip install -e ".[ui]"  (or: pip install "ldm-sprites[ui]")'


def gradio_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("gradio") is not None
