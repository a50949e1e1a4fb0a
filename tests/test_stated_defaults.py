"""What the package says about itself is what it does: the sampling options' help is built from
the schema's defaults and the resolver's rules, and the size a comment gives a preset is counted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hardening import run
from ldm_sprites.diffusion.config import SampleSection
from ldm_sprites.diffusion.options import (OTHER_SAMPLER_SPACING, OTHER_SAMPLER_STEPS,
                                           resolve_sampling)

NEW = SampleSection()


def _help(command: str) -> str:
    res = run(command, "--help")
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())   # click wraps lines


def _option_help(text: str, option: str) -> str:
    """The help of ``option`` up to the next option (an option's entry starts with its name and
    a metavar; the help mentions options followed by other words)."""
    entry = r" --[a-z][\w-]* (?=[A-Z\[])"
    return re.search(rf"{option} (?=[A-Z\[]).*?(?={entry})", text).group(0)


@pytest.mark.parametrize("command", ["generate", "vary", "inpaint", "eval"])
def test_sampling_help_states_the_schemas_defaults(command):
    text = _help(command)
    steps = _option_help(text, "--steps")
    assert f"({NEW.steps} with {NEW.sampler} for new models)" in steps
    assert f"another --sampler takes {OTHER_SAMPLER_STEPS}" in steps
    assert f"({NEW.spacing} for new models)" in _option_help(text, "--spacing")
    assert f"({NEW.guidance:g} for new models" in _option_help(text, "--guidance")
    assert f"({NEW.autoguidance:g} for new models)" in _option_help(text, "--autoguidance")


def test_generate_help_states_the_rest_and_vary_its_own():
    text = _help("generate")
    assert f"({NEW.eta:g} for new models)" in _option_help(text, "--eta")
    assert f"({NEW.init_noise} for new models)" in _option_help(text, "--init-noise")
    assert f"({NEW.sampler} for new models)" in _option_help(text, "--sampler")
    vary = _help("vary")
    assert f"transfer_guidance, {NEW.transfer_guidance:g}" in _option_help(vary, "--guidance")
    assert f"({NEW.vary_sampler}, {NEW.vary_steps} {NEW.vary_spacing} steps)" in \
        _option_help(vary, "--sampler")


def test_what_the_help_says_is_what_resolution_does():
    o = resolve_sampling(NEW, 1000)
    assert (o.sampler, o.steps, o.spacing, o.guidance) == \
        (NEW.sampler, NEW.steps, NEW.spacing, NEW.guidance)
    other = next(s for s in ("dpmpp", "ddim") if s != NEW.sampler)
    o = resolve_sampling(NEW, 1000, sampler=other)
    assert (o.steps, o.spacing) == (OTHER_SAMPLER_STEPS, OTHER_SAMPLER_SPACING)
    assert resolve_sampling(NEW, 1000, sampler="ddpm").steps == 1000
    o = resolve_sampling(NEW, 1000, sdedit=True)
    assert (o.sampler, o.steps, o.spacing) == (NEW.vary_sampler, NEW.vary_steps, NEW.vary_spacing)
    assert resolve_sampling(NEW, 1000, transfer=True).guidance == NEW.transfer_guidance
    assert resolve_sampling(NEW, 1000, has_guide=True).autoguidance == NEW.autoguidance


def test_the_ddpm_presets_stated_size_is_counted():
    from ldm_sprites.diffusion import dit

    model = dit.build_dit("ddpm", input_size=64, in_channels=4, patch_size=4, num_classes=18)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    source = Path(dit.__file__).read_text(encoding="utf-8")
    comment = source[:source.index("PRESETS: dict")].rsplit("\n\n", 1)[-1]
    stated = re.search(r'"ddpm".*?\(([\d.]+) M params\s*#?\s*at 64x64 / patch 4', comment, re.S)
    assert stated and float(stated.group(1)) == round(millions, 1), (comment, millions)
