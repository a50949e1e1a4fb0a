"""Wrap-around ("tileable") tensors: the axes a tile wraps along, circular shifts, and convs that
pad circularly.

A tile wraps when its left column continues its right one (axis ``x``) and its top row its
bottom one (``y``). Three things here serve the tileable features (docs/tiles.md):

* ``parse_axes`` reads ``--tileable [xy|x|y]`` (one-line ``UserError`` for anything else);
* ``circular_shift`` / ``roll_each`` move every sample by its own offset, wrapping around: a
  permutation of its pixels (training on random shifts shows the model every seam in the
  middle of the picture), and what noise rolling does to the sampler's input;
* ``circular_padding(module, axes)`` makes every padded conv of a module pad by wrapping along
  ``axes`` (zeros along the other), so a conv decoder draws a wrapped latent without an edge;
* ``wrap_states`` says which tiles of a set wrap along x and y, what a wrap-conditioned model
  (``model.wrap_condition``) learns from.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import torch
from torch import nn

from ldm_sprites.data.seam import seam_scores
from ldm_sprites.errors import UserError

AXES = ("xy", "x", "y")
_ALIASES = {"xy": "xy", "yx": "xy", "both": "xy", "x": "x", "y": "y"}


def parse_axes(value, flag: str = "--tileable") -> str | None:
    """``--tileable`` value -> 'xy' | 'x' | 'y', or None (not tileable). ``True`` and '' mean
    'xy' (the flag given bare); ``False``/None/'none'/'off' mean not tileable."""
    if value is None or value is False:
        return None
    if value is True:
        return "xy"
    text = str(value).strip().lower()
    if text in ("", "true", "on", "yes"):
        return "xy"
    if text in ("none", "off", "no", "false"):
        return None
    if text not in _ALIASES:
        raise UserError(f"unknown {flag} axis '{value}': use xy (both directions, the "
                        "default), x (left-right: walls, cliffs) or y (top-bottom)")
    return _ALIASES[text]


def axis_dims(axes: str | None) -> tuple[int, ...]:
    """Tensor dims (of an N, C, H, W batch) that wrap: x -> -1 (W), y -> -2 (H)."""
    if not axes:
        return ()
    return tuple(d for a, d in (("y", -2), ("x", -1)) if a in axes)


def roll_each(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Roll sample n of (N, C, H, W) ``x`` by (dy[n], dx[n]) with wrap-around, as
    ``torch.roll(x[n], (dy[n], dx[n]), (-2, -1))`` does for one sample: out[i] = x[(i - d) % n]."""
    n, c, h, w = x.shape
    dy = torch.as_tensor(dy, device=x.device).long().view(n, 1)
    dx = torch.as_tensor(dx, device=x.device).long().view(n, 1)
    rows = (torch.arange(h, device=x.device).view(1, h) - dy) % h
    cols = (torch.arange(w, device=x.device).view(1, w) - dx) % w
    x = x.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w))
    return x.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def random_offsets(n: int, h: int, w: int, generator: torch.Generator,
                   axes: str = "xy") -> tuple[torch.Tensor, torch.Tensor]:
    """(dy, dx) uniform over every offset of an h x w grid along ``axes`` (0 along the others)."""
    dy = torch.randint(h, (n,), generator=generator) if "y" in axes else torch.zeros(n, dtype=torch.long)
    dx = torch.randint(w, (n,), generator=generator) if "x" in axes else torch.zeros(n, dtype=torch.long)
    return dy, dx


def circular_shift(x: torch.Tensor, generator: torch.Generator, axes: str = "xy") -> torch.Tensor:
    """Each sample of (N, C, H, W) ``x`` rolled by its own uniformly random offset along
    ``axes``: a permutation of its pixels, nothing blended or lost."""
    dy, dx = random_offsets(x.shape[0], x.shape[-2], x.shape[-1], generator, axes)
    return roll_each(x, dy, dx)


# A tile wraps along an axis when its seam score there (``data.seam``: the step across
# the wrap edge over the steps inside) is at most this. On dcss-dngn 70 % of the tiles do; the
# rest (walls drawn as blocks, water with a shore) have steps 2-10x their interior.
WRAPS_AT_MOST = 1.2


def wrap_states(images: torch.Tensor, at_most: float = WRAPS_AT_MOST) -> torch.Tensor:
    """(N, 2) long: for each (N, C, H, W) uint8 tile, along x and along y, ``dit.WRAP_YES`` (1)
    where its seam score is at most ``at_most``, else ``WRAP_NO`` (0). Mirroring a tile keeps
    both (the same two edges meet)."""
    tiles = images.permute(0, 2, 3, 1).cpu().numpy()
    return torch.from_numpy(np.stack([seam_scores(tiles, a) <= at_most for a in "xy"], 1)
                            .astype(np.int64))


_LOCK = threading.RLock()


@contextlib.contextmanager
def circular_padding(module: nn.Module, axes: str | None = "xy"):
    """Inside the block every ``nn.Conv2d`` of ``module`` with padding pads circularly along
    ``axes`` ('xy', 'x' or 'y') and with zeros along the other axis, exactly as a conv with
    ``padding_mode='circular'`` would for 'xy'. A strided conv (an encoder's downsampling) stays
    shift-equivariant for shifts that are multiples of its stride. The weights are untouched;
    the module is back to zero padding afterwards. Held under a lock: another thread sampling
    the same module without wrap-around waits rather than seeing circular padding."""
    if not axes:
        yield module
        return
    wrap_y, wrap_x = "y" in axes, "x" in axes
    with _LOCK:
        saved, handles = [], []
        try:
            for conv in module.modules():
                if not isinstance(conv, nn.Conv2d) or conv.padding_mode != "zeros" \
                        or isinstance(conv.padding, str):
                    continue
                ph, pw = conv.padding
                if ph == 0 and pw == 0:
                    continue
                saved.append((conv, conv.padding))
                conv.padding = (0, 0)

                def pad(_mod, args, ph=ph, pw=pw):
                    (x,) = args
                    if pw:
                        x = nn.functional.pad(x, (pw, pw, 0, 0), mode="circular" if wrap_x
                                              else "constant")
                    if ph:
                        x = nn.functional.pad(x, (0, 0, ph, ph), mode="circular" if wrap_y
                                              else "constant")
                    return (x,)

                handles.append(conv.register_forward_pre_hook(pad))
            yield module
        finally:
            for h in handles:
                h.remove()
            for conv, padding in saved:
                conv.padding = padding
