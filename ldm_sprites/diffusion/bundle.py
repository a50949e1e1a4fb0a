"""Make a self-contained, shareable model directory from a training run (``ldmsprites bundle``).

Keeps config, classes, the palette files and the EMA weights (optionally as fp16, half the
size), drops the raw weights and the train state, and copies a latent model's autoencoder inside
as ``ae/`` with a relative path, so the directory works wherever it is copied. This is how the
bundled demo model is made.
"""

from __future__ import annotations

from pathlib import Path

from ldm_sprites.modeldir import hash_model_dir, load_model_dir, save_model_dir


def _slim(md, out: Path, fp16: bool, extra_config: dict | None = None) -> Path:
    sd = md.weights("ema")
    if fp16:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    config = {k: v for k, v in md.config.items() if k != "format_version"}
    config.update(extra_config or {})
    from ldm_sprites.finish.palette import PALETTE_FILES

    keep = {n: (md.path / n).read_bytes() for n in PALETTE_FILES if (md.path / n).is_file()}
    save_model_dir(out, config, {"ema": sd}, classes=md.classes, extra_files=keep)
    return out


def bundle_model(run: str | Path, out: str | Path, fp16: bool = True,
                 sample: dict | None = None, ae: str | Path | None = None) -> Path:
    """``sample`` overrides the model's sampling defaults (e.g. steps, guidance interval);
    ``ae`` bundles another decoder of the model's latent space (``train-ae --freeze-encoder``)
    instead of the autoencoder it was trained with."""
    out = Path(out)
    md = load_model_dir(run)
    extra = {"sample": {**md.config.get("sample", {}), **(sample or {})}}
    if md.config.get("ae"):
        from ldm_sprites.autoencoder.handle import load_autoencoder_for

        # Checks that ``ae`` decodes this model's latent space (an error naming both if not).
        handle = load_autoencoder_for(md, "cpu", override=ae)
        ae_src = load_model_dir(handle.path)
        # The latent space keeps its name in the copy, so decoders trained later for the
        # bundled autoencoder's encoder are recognised as decoders of this model's space.
        space = handle.reference()["latent_space"]
        tmp_ae = out.with_name(out.name + ".ae-staging")
        _slim(ae_src, tmp_ae, fp16, {"latent_space": space})
        extra["ae"] = {"path": "ae", "hash": hash_model_dir(tmp_ae), "latent_space": space}
        _slim(md, out, fp16, extra)
        tmp_ae.rename(out / "ae")
    else:
        _slim(md, out, fp16, extra)
    return out

