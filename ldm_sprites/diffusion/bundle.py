"""Make a self-contained, shareable model directory from a training run (``ldmsprites bundle``).

``from_pretrained`` -> change -> ``save_pretrained``: the run's EMA weights with its palette, its
autoguidance guide (or an earlier checkpoint's, ``guide``) and, for a latent model, its
autoencoder (or another decoder of its latent space, ``ae``) inside as ``ae/``, stored as fp16
(half the size) unless asked otherwise; the raw weights and the train state stay behind. The
directory works wherever it is copied. This is how the bundled models are made.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ldm_sprites.config_loader import check_values
from ldm_sprites.errors import UserError


def bundle_model(run: str | Path, out: str | Path, fp16: bool = True,
                 sample: dict | None = None, ae: str | Path | None = None,
                 guide: str | Path | None = None, credits: str | Path | None = None) -> Path:
    """``sample`` overrides the model's sampling defaults (``SampleSection`` fields, e.g. steps,
    guidance_sigma_min/max, autoguidance); ``ae`` bundles another decoder of the model's latent
    space (``train-ae --freeze-encoder``, checked by its encoder's hash) instead of the
    autoencoder it was trained with; ``guide`` stores the EMA weights of that model directory
    (an earlier checkpoint of the run) as the autoguidance guide; ``credits`` a Markdown file
    saying whose art the model learned, written as CREDITS.md (else the run's own is kept)."""
    from ldm_sprites.diffusion.pipeline import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(run, device="cpu", ae_path=ae)
    if guide:
        pipe.attach_guide(guide)
    if credits:
        try:
            pipe.credits = Path(credits).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read --credits {credits}: {exc}") from None
    # The whole sample section is written, the schema's values for what the run did not set, so
    # a later change of a schema default does not change the bundled model's sprites.
    defaults = check_values(replace(pipe.config.sample, **(sample or {})), "sample")
    pipe.config = replace(pipe.config, sample=defaults)
    return pipe.save_pretrained(out, fp16=fp16)
