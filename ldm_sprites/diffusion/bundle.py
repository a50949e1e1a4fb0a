"""Make a self-contained, shareable model directory from a training run (``ldmsprites bundle``).

Keeps config, classes, the palette files, the EMA weights and the autoguidance guide (optionally
as fp16, half the size), drops the raw weights and the train state, and copies a latent model's
autoencoder inside as ``ae/`` with a relative path, so the directory works wherever it is
copied. This is how the bundled demo model is made.
"""

from __future__ import annotations

from pathlib import Path

from ldm_sprites.diffusion.guidance import carries_guide
from ldm_sprites.errors import UserError
from ldm_sprites.modeldir import hash_model_dir, load_model_dir, save_model_dir


def _half(sd: dict, fp16: bool) -> dict:
    return {k: v.half() if fp16 and v.is_floating_point() else v for k, v in sd.items()}


def _slim(md, out: Path, fp16: bool, extra_config: dict | None = None,
          guide: tuple[dict, dict] | None = None) -> Path:
    """``guide``: (config entry, weights) of an autoguidance guide to store instead of the one
    ``md`` carries (if any)."""
    weights = {"ema": _half(md.weights("ema"), fp16)}
    config = {k: v for k, v in md.config.items() if k != "format_version"}
    config.update(extra_config or {})
    if guide is None and carries_guide(md):
        guide = config["guide"], md.weights("guide")
    config.pop("guide", None)
    if guide is not None:
        config["guide"], weights["guide"] = guide[0], _half(guide[1], fp16)
    from ldm_sprites.finish.palette import PALETTE_FILES

    keep = {n: (md.path / n).read_bytes() for n in PALETTE_FILES if (md.path / n).is_file()}
    save_model_dir(out, config, weights, classes=md.classes, extra_files=keep)
    return out


def guide_from(config: dict, classes: list[str], path: str | Path) -> tuple[dict, dict]:
    """(config entry, EMA weights) of the model directory ``path`` as the guide of the model with
    this ``config`` and ``classes``: the same task (classes, latent space, schedule, prediction,
    input) trained less; an error naming the first difference otherwise."""
    g = load_model_dir(path, expect_kind="diffusion")
    a, b = config, g.config
    checks = {
        "classes": (list(classes), g.classes),
        "latent space": ((a.get("ae") or {}).get("latent_space"),
                         (b.get("ae") or {}).get("latent_space")),
        "prediction": (a.get("diffusion", {}).get("prediction", "eps"),
                       b.get("diffusion", {}).get("prediction", "eps")),
        "schedule": ([a.get("diffusion", {}).get(k) for k in ("schedule", "timesteps")],
                     [b.get("diffusion", {}).get(k) for k in ("schedule", "timesteps")]),
        "input": ([a["model"].get(k) for k in ("in_channels", "input_size", "num_classes")],
                  [b["model"].get(k) for k in ("in_channels", "input_size", "num_classes")]),
    }
    for what, (mine, theirs) in checks.items():
        if mine != theirs:
            raise UserError(f"--guide {g.path} cannot guide this model: its {what} differs "
                            f"({theirs} vs {mine}); use an earlier checkpoint of the same run")
    entry = {"model": b["model"], "step": b.get("step"), "source": str(g.path)}
    return entry, g.weights("ema")


def bundle_model(run: str | Path, out: str | Path, fp16: bool = True,
                 sample: dict | None = None, ae: str | Path | None = None,
                 guide: str | Path | None = None) -> Path:
    """``sample`` overrides the model's sampling defaults (e.g. steps, guidance interval);
    ``ae`` bundles another decoder of the model's latent space (``train-ae --freeze-encoder``)
    instead of the autoencoder it was trained with; ``guide`` stores the EMA weights of that
    model directory (an earlier checkpoint of the run) as the autoguidance guide."""
    out = Path(out)
    md = load_model_dir(run)
    guide_entry = guide_from(md.config, md.classes, guide) if guide else None
    extra = {"sample": {**md.config.get("sample", {}), **(sample or {})}}
    if guide_entry or md.config.get("guide"):
        # A model that gains a guide records the weight it samples with, so that a later
        # change of the schema's default does not change its sprites.
        from ldm_sprites.diffusion.options import saved_defaults

        extra["sample"].setdefault("autoguidance", saved_defaults(extra["sample"]).autoguidance)
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
        _slim(md, out, fp16, extra, guide_entry)
        tmp_ae.rename(out / "ae")
    else:
        _slim(md, out, fp16, extra, guide_entry)
    return out

