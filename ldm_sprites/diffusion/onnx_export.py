"""ONNX export of a diffusion model's networks, and ONNX Runtime stand-ins for them.

``export_onnx(pipe, out)`` writes what a game tool needs to sample without Python or torch:

* ``denoiser.onnx``: the DiT, ``(x (N,C,h,w) float32, t (N,) int64, y (N,) int64) -> out``,
  out = ε̂ or v̂ (``prediction``); y = ``null_label`` is the unconditional half of guidance; a
  wrap-conditioned model (``model.wrap_condition``) takes a fourth input ``wrap (N,2) int64``,
  the states along x and y (0 no, 1 wraps, 2 unknown: model.json's ``wrap_states``);
* ``decoder.onnx`` (latent models): scaled latents ``z (N,c,h,w)`` -> pixels (N,C,H,W) in model
  space (premultiplied RGBA in [-1, 1]; clamp before use);
* ``guide.onnx`` (models with an autoguidance guide): the guide DiT, same inputs and output;
  add ``(w − 1) · (denoiser − guide)`` of the conditional outputs to the classifier-free guided
  output (``GuidedDenoiser``), w = model.json's ``autoguidance``;
* ``model.json``: classes, null label, prediction, x̂_0 clip, ᾱ_t for every timestep, the saved
  sampling defaults and the shapes: everything a sampler written in another language needs.

The batch axis is dynamic. ``onnx`` and ``onnxruntime`` are the optional extra ``.[onnx]``;
``OnnxDenoiser`` / ``OnnxDecoder`` run the exported files through ONNX Runtime behind the
interfaces ``GuidedDenoiser`` and ``DiffusionPipeline.decode`` call, so the ordinary samplers
drive them (``use_onnx_runtime``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ldm_sprites.errors import UserError

OPSET = 17
DENOISER, DECODER, GUIDE, META = "denoiser.onnx", "decoder.onnx", "guide.onnx", "model.json"


def require_onnx(runtime: bool = False) -> None:
    """A one-line error naming the extra when ``onnx`` (or ``onnxruntime``) is missing."""
    for name in ("onnx", "onnxruntime") if runtime else ("onnx",):
        try:
            __import__(name)
        except ImportError:
            raise UserError(f"this needs the '{name}' package: pip install -e \".[onnx]\"") from None


class _Decoder(torch.nn.Module):
    """Scaled latents -> model-space pixels, the graph ``AutoencoderHandle.decode`` runs."""

    def __init__(self, autoencoder):
        super().__init__()
        self.net = autoencoder.model
        self.scale = float(autoencoder.scale_factor)

    def forward(self, z):
        return self.net.decode(z / self.scale)


def _export(module, args, path: Path, names: list[str], opset: int) -> None:
    import warnings

    dynamic = {n: {0: "batch"} for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-level branches
        torch.onnx.export(module, args, str(path), input_names=names[:-1],
                          output_names=names[-1:], dynamic_axes=dynamic, opset_version=opset,
                          dynamo=False)


def export_onnx(pipe, out: str | Path, opset: int = OPSET) -> dict:
    """Write ``denoiser.onnx`` (+ ``decoder.onnx`` for a latent model) and ``model.json`` to
    ``out``; returns the metadata written."""
    require_onnx()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c, s = pipe.noise_shape[0], pipe.noise_shape[-1]
    model = pipe.model.float().eval().cpu()
    x = torch.randn(2, c, s, s)
    t = torch.tensor([10, 500])
    y = torch.tensor([0, pipe.null_label])
    args, names = (x, t, y), ["x", "t", "y", "out"]
    if pipe.wrap_conditioned:
        from ldm_sprites.diffusion.dit import WRAP_UNKNOWN, WRAP_YES

        args, names = (x, t, y, torch.tensor([[WRAP_YES, WRAP_UNKNOWN]] * 2)), \
            ["x", "t", "y", "wrap", "out"]
    with torch.no_grad():
        _export(model, args, out / DENOISER, names, opset)
        files = [DENOISER]
        if pipe.guide is not None:
            _export(pipe.guide.float().eval().cpu(), args, out / GUIDE, names, opset)
            files.append(GUIDE)
        if pipe.autoencoder is not None:
            _export(_Decoder(pipe.autoencoder).eval().cpu(), (x,), out / DECODER,
                    ["z", "pixels"], opset)
            files.append(DECODER)
    data = pipe.config.data
    meta = {
        "format": "ldm-sprites-onnx", "version": 1, "files": files, "opset": opset,
        "classes": list(pipe.classes), "null_label": pipe.null_label,
        "prediction": pipe.prediction, "x0_clip": pipe.x0_clip,
        "noise_shape": list(pipe.noise_shape),
        "pixel_shape": [data.channels, data.size, data.size],
        "schedule": {"kind": pipe.schedule.kind, "timesteps": pipe.schedule.T,
                     "alphas_cumprod": [float(a) for a in pipe.schedule.alphas_cumprod64]},
        "sample": asdict(pipe.config.sample),
        "autoguidance": pipe.sampling_options().autoguidance,   # 1: no guide.onnx to use
        "pixels": "premultiplied RGBA (or RGB) in [-1, 1]: clamp, then (v + 1) * 127.5",
    }
    if pipe.wrap_conditioned:   # tiles that wrap: wrap = 1 on the axes asked for, both halves
        meta["wrap_states"] = {"no": 0, "yes": 1, "unknown": 2}
    (out / META).write_text(json.dumps(meta, indent=1))
    return meta


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxDenoiser:
    """``model(x, t, y) -> out`` through ONNX Runtime: a drop-in for the DiT in
    ``GuidedDenoiser`` (CPU; torch tensors in and out)."""

    def __init__(self, path: str | Path, config, threads: int | None = None):
        self.session = _session(Path(path), threads)
        self.config = config

    def __call__(self, x, t, y, wrap=None):
        feed = {"x": x.detach().float().cpu().numpy(), "t": t.cpu().numpy().astype(np.int64),
                "y": y.cpu().numpy().astype(np.int64)}
        if wrap is not None:
            feed["wrap"] = wrap.cpu().numpy().astype(np.int64)
        return torch.from_numpy(self.session.run(None, feed)[0])


class OnnxDecoder:
    """``decode(z) -> pixels`` through ONNX Runtime, as ``AutoencoderHandle.decode``."""

    def __init__(self, path: str | Path, threads: int | None = None):
        self.session = _session(Path(path), threads)

    def decode(self, z):
        return torch.from_numpy(self.session.run(None, {"z": z.detach().float().cpu().numpy()})[0])


def use_onnx_runtime(pipe, onnx_dir: str | Path, threads: int | None = None):
    """Run ``pipe``'s denoiser (and decoder) from an ``export_onnx`` folder through ONNX Runtime;
    everything else (samplers, guidance, finishing) stays the same. Returns ``pipe``."""
    require_onnx(runtime=True)
    onnx_dir = Path(onnx_dir)
    pipe.model = OnnxDenoiser(onnx_dir / DENOISER, pipe.model.config, threads)
    if pipe.guide is not None:
        pipe.guide = OnnxDenoiser(onnx_dir / GUIDE, pipe.guide.config, threads)
    if pipe.autoencoder is not None:
        pipe.autoencoder = OnnxDecoder(onnx_dir / DECODER, threads)
    return pipe


@torch.no_grad()
def max_difference(pipe, onnx_dir: str | Path, batch: int = 4, seed: int = 0) -> dict:
    """Largest |ONNX Runtime - torch| of each exported network on random inputs of ``pipe``'s
    shapes (raises ImportError without onnxruntime)."""
    import onnxruntime  # noqa: F401  (the ImportError the caller reports)

    onnx_dir = Path(onnx_dir)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch,) + tuple(pipe.noise_shape), generator=g)
    t = torch.randint(0, pipe.schedule.T, (batch,), generator=g)
    y = torch.randint(0, pipe.null_label + 1, (batch,), generator=g)
    # a wrap-conditioned model's fourth input: every state along each axis
    kw = {"wrap": torch.randint(0, 3, (batch, 2), generator=g)} if pipe.wrap_conditioned else {}
    model = pipe.model.float().cpu()
    out = {"denoiser": float((OnnxDenoiser(onnx_dir / DENOISER, model.config)(x, t, y, **kw)
                              - model(x, t, y, **kw)).abs().max())}
    if pipe.guide is not None:
        guide = pipe.guide.float().cpu()
        out["guide"] = float((OnnxDenoiser(onnx_dir / GUIDE, guide.config)(x, t, y, **kw)
                              - guide(x, t, y, **kw)).abs().max())
    if pipe.autoencoder is not None:
        out["decoder"] = float((OnnxDecoder(onnx_dir / DECODER).decode(x)
                                - pipe.autoencoder.decode(x)).abs().max())
    return out
