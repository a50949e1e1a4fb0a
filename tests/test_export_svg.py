"""SVG tracing: pixel-mode round trip through independent renderers, spline silhouettes,
viewBox and transparency."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ldm_sprites.export.svg import sprite_svg, trace_sprite
from ldm_sprites.export.upscale import nearest
from tests.svg_render import RENDERERS, alpha_iou, identical_share, rasterize
from tests.synthetic import synthetic_sprite

SVG_NS = "{http://www.w3.org/2000/svg}"


def _mostly_opaque(seed: int) -> np.ndarray:
    """Few transparent pixels: vtracer alone would trace them as black (see svg.py)."""
    rng = np.random.default_rng(seed)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., :3] = rng.integers(0, 8, (16, 16, 1)) * 32
    rgba[..., 3] = 255
    rgba[5:7, 9:12] = 0
    return rgba


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pixel_svg_reproduces_nearest_upscale(renderer, seed):
    for sprite in (synthetic_sprite(seed), _mostly_opaque(seed)):
        document = sprite_svg(trace_sprite(sprite, "pixel"), 8, "pixel")
        rendered = rasterize(document, renderer)
        assert rendered.shape == (128, 128, 4)
        assert identical_share(rendered, nearest(sprite, 8)) >= 0.99


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spline_svg_keeps_the_silhouette(seed):
    sprite = synthetic_sprite(seed, size=32)
    document = sprite_svg(trace_sprite(sprite, "spline"), 1, "spline")
    assert alpha_iou(rasterize(document), sprite) >= 0.95


@pytest.mark.parametrize("mode", ["pixel", "spline"])
def test_svg_is_valid_xml_with_the_sprite_viewbox(mode):
    sprite = np.zeros((12, 20, 4), dtype=np.uint8)
    sprite[2:10, 3:17] = [200, 100, 50, 255]
    root = ET.fromstring(sprite_svg(trace_sprite(sprite, mode), 4, mode))
    assert root.tag == SVG_NS + "svg"
    assert root.get("viewBox") == "0 0 20 12"
    assert (root.get("width"), root.get("height")) == ("80", "48")
    assert root.findall(f".//{SVG_NS}path")


def test_transparent_areas_stay_transparent():
    sprite = _mostly_opaque(3)
    rendered = rasterize(sprite_svg(trace_sprite(sprite, "pixel"), 1, "pixel"))
    assert (rendered[5:7, 9:12, 3] == 0).all()
    assert (rendered[0:5, :, 3] == 255).all()


def test_tracing_is_deterministic():
    sprite = synthetic_sprite(5, size=24)
    for mode in ("pixel", "spline"):
        assert trace_sprite(sprite, mode).body == trace_sprite(sprite, mode).body


def _soft_alpha_sprite() -> np.ndarray:
    """A synthetic sprite whose alpha ramps from 61 to 255 across it (what --alpha-threshold 0
    keeps from a generator's soft edges)."""
    sprite = synthetic_sprite(4)
    ramp = np.clip(61 + 13 * np.arange(16), 0, 255).astype(np.uint8)
    sprite[..., 3] = np.where(sprite[..., 3] > 0, ramp[None, :], 0)
    return sprite


@pytest.mark.parametrize("renderer", RENDERERS)
def test_pixel_svg_carries_soft_alpha(renderer):
    sprite = _soft_alpha_sprite()
    rendered = rasterize(sprite_svg(trace_sprite(sprite, "pixel"), 4, "pixel"), renderer)
    expected = nearest(sprite, 4)
    assert np.abs(rendered[..., 3].astype(int) - expected[..., 3]).max() <= 1
    seen = expected[..., 3] > 0
    assert np.abs(rendered[seen, :3].astype(int) - expected[seen, :3]).max() <= 2


def test_hard_alpha_svg_has_no_opacity_groups():
    assert "opacity" not in trace_sprite(synthetic_sprite(4), "pixel").body
