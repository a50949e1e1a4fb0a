"""Which config a training run trains with: one rule for both stages, new run or ``--resume``."""

from __future__ import annotations

from pathlib import Path

from ldm_sprites.config_loader import apply_overrides, from_saved, load_config
from ldm_sprites.modeldir import list_checkpoints, load_model_dir


def resolve_run_config(out_dir, resume: bool, kind: str, config_cls, config_path,
                       overrides: dict, resume_keys: tuple[str, ...]):
    """(config, saved config.json of the checkpoint continued, or None for a new run).

    ``--resume`` of a run that has a checkpoint: the run's own saved config wins (same model, data
    and schedule), read back as a ``config_cls`` (``config_loader.from_saved``); of the ``overrides`` (dotted keys) only
    ``resume_keys`` apply, e.g. a larger step budget. Otherwise: the YAML at ``config_path`` (the
    ``config_cls`` defaults without one) with every override applied.
    """
    out = Path(out_dir)
    ckpts = list_checkpoints(out) if out.exists() else []
    if resume and ckpts:
        saved = load_model_dir(ckpts[-1], expect_kind=kind).config
        cfg = from_saved(config_cls, saved)
        apply_overrides(cfg, {k: overrides.get(k) for k in resume_keys})
        return cfg, saved
    cfg = load_config(config_path, config_cls)
    apply_overrides(cfg, overrides)
    return cfg, None
