"""One writer of model directories: ``bundle`` is from_pretrained -> change -> save_pretrained, so a
bundled model bundled again is the same bytes, and what it records (the autoencoder's hash and
encoder, the whole sampling section) comes from the one place that writes it."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, fields
from pathlib import Path

from tests.hardening import assert_one_line_error, run
from tests.test_model_integrity import _changed_autoencoder
from ldm_sprites.diffusion.bundle import bundle_model
from ldm_sprites.diffusion.config import SampleSection
from ldm_sprites.diffusion.pipeline import DiffusionPipeline
from ldm_sprites.modeldir import hash_model_dir, load_model_dir
from ldm_sprites.runtime import bundled_model_dir


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_bundling_the_bundled_model_again_changes_no_byte(tmp_path):
    """The shipped model is what the current writer writes (weights, guide, palette, ae/, config)."""
    again = bundle_model(bundled_model_dir(), tmp_path / "again")
    shipped, written = _files(Path(bundled_model_dir())), _files(again)
    assert list(written) == list(shipped)
    changed = [name for name in shipped if shipped[name] != written[name]]
    assert not changed, changed


def test_save_pretrained_round_trips_the_typed_config(tmp_path):
    pipe = DiffusionPipeline.from_pretrained(bundled_model_dir(), device="cpu")
    copy = DiffusionPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "copy", fp16=True),
                                             device="cpu")
    for part in ("model", "diffusion", "data", "sample", "guide", "x0_clip", "step"):
        assert getattr(copy.config, part) == getattr(pipe.config, part), part
    assert copy.config.ae == pipe.config.ae    # the same autoencoder copy: same hash, same encoder


def test_bundle_writes_the_whole_sampling_section_with_its_overrides(tmp_path):
    out = bundle_model(bundled_model_dir(), tmp_path / "m", sample={"steps": 7})
    sample = load_model_dir(out).config["sample"]
    assert set(sample) == {f.name for f in fields(SampleSection)}
    shipped = DiffusionPipeline.from_pretrained(bundled_model_dir(), device="cpu").config.sample
    assert sample == {**asdict(shipped), "steps": 7}
    bad = run("bundle", bundled_model_dir(), tmp_path / "bad", "--autoguidance", "0.5")
    assert bad.exit_code == 2 and not (tmp_path / "bad").exists()
    res = run("bundle", bundled_model_dir(), tmp_path / "g", "--guidance", "1.5",
              "--autoguidance", "2.5")
    assert res.exit_code == 0, res.output
    sample = load_model_dir(tmp_path / "g").config["sample"]
    assert (sample["guidance"], sample["autoguidance"]) == (1.5, 2.5)
    assert {k: v for k, v in sample.items() if k not in ("guidance", "autoguidance")} == \
        {k: v for k, v in asdict(shipped).items() if k not in ("guidance", "autoguidance")}


def test_bundle_ae_ships_another_decoder_of_the_same_encoder_only(tmp_path):
    md = load_model_dir(bundled_model_dir())
    same = _changed_autoencoder(md.path / "ae", tmp_path / "same", "decoder.")
    out = tmp_path / "shared"
    res = run("bundle", md.path, out, "--ae", same)
    assert res.exit_code == 0, res.output
    ae = load_model_dir(out).config["ae"]
    assert ae["encoder"] == md.config["ae"]["encoder"]          # the model's latent space
    assert ae["hash"] == hash_model_dir(out / "ae") != md.config["ae"]["hash"]   # its own copy
    assert run("generate", "--model", out, "--class", "fire", "--num", "1", "--steps", "2",
               "--out", tmp_path / "g.png").exit_code == 0
    other = _changed_autoencoder(md.path / "ae", tmp_path / "other", "encoder.",
                                 {"latent_space": md.config["ae"]["encoder"]})
    assert_one_line_error(run("bundle", md.path, tmp_path / "no", "--ae", other),
                          "another encoder")
    assert not (tmp_path / "no").exists()


def test_bundle_refuses_a_run_whose_autoencoder_changed(tmp_path):
    model = Path(shutil.copytree(bundled_model_dir(), tmp_path / "model"))
    cfg = json.loads((model / "config.json").read_text())
    cfg["ae"]["hash"] = "0" * 16
    (model / "config.json").write_text(json.dumps(cfg))
    assert_one_line_error(run("bundle", model, tmp_path / "out"), "damaged or was replaced")



def test_credits_travel_with_the_model_and_bundle_can_add_them(tmp_path):
    """Whose art a model learned (CREDITS.md) is written by --credits, listed with the files'
    hashes, shown by info and kept when the model is bundled again."""
    notes = tmp_path / "credits.md"
    notes.write_text("# Trained on Some Artist's tiles (CC0)\n", encoding="utf-8")
    first = tmp_path / "first"
    res = run("bundle", bundled_model_dir(), first, "--credits", notes)
    assert res.exit_code == 0, res.output
    assert (first / "CREDITS.md").read_text(encoding="utf-8") == notes.read_text(encoding="utf-8")
    assert "CREDITS.md" in (first / "config.json").read_text()
    again = bundle_model(first, tmp_path / "again")
    assert (again / "CREDITS.md").read_bytes() == (first / "CREDITS.md").read_bytes()
    info = run("info", "--model", again)
    assert "Trained on Some Artist's tiles (CC0)" in info.output
    missing = run("bundle", bundled_model_dir(), tmp_path / "x", "--credits", tmp_path / "no.md")
    assert missing.exit_code == 2 and not (tmp_path / "x").exists()
