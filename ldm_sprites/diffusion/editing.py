"""Editing sprites you already have: variations and class transfer (SDEdit), inpainting (RePaint).

Both run the ordinary samplers (``samplers.SAMPLERS``, any of them) — no second copy of a loop:

* **SDEdit** (Meng et al. 2022): encode the input, noise it to the timestep ``strength`` picks in
  the sampler's own timestep list (``start_index``), and run the sampler from there
  (``sample_from``). Strength 0 runs no step and returns the input; strength 1 starts from pure
  noise at the first timestep and is exactly ``DiffusionPipeline.sample`` with the same seed. A
  target class turns it into class transfer.
* **RePaint** (Lugmayr et al. 2022): the known region is blended into every step through the
  *denoiser*: ``KeepKnown`` replaces x̂_0 by the known x_0 there, so each sampler step moves the
  known region along q(x_s | x_t, x_0) — a correctly noised copy of the input — while the model
  draws the rest in context. Resampling jumps run the sampler in segments (the samplers' ``end``)
  and noise each segment's result back up to its start ``jumps`` times, which lets the new
  region and the known one agree before the noise level drops further.

In latent mode the pixel mask is taken down to the latent grid (a latent cell is redrawn when
any of its pixels is masked) and the decoded result is composited so that unmasked pixels are
the input's, bit for bit (``composite``).

Inputs go through the training data's loading and fitting (``edit_inputs.load_inputs``);
everything that can be wrong with them is a one-line ``UserError`` raised before any sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

# Loading and fitting sprites and masks: edit_inputs.py.
from ldm_sprites.diffusion.edit_inputs import (EditInput, fit_mask, load_inputs, parse_region,
                                               read_mask, to_model)
from ldm_sprites.diffusion.options import SamplingOptions
from ldm_sprites.diffusion.samplers import SAMPLERS
from ldm_sprites.errors import UserError

# --- the algorithms ---------------------------------------------------------------------------


def check_strength(strength: float) -> float:
    s = float(strength)
    if not 0.0 <= s <= 1.0 or math.isnan(s):
        raise UserError(f"--strength {strength:g} must be between 0 (keep the input) and 1 "
                        "(start from pure noise)")
    return s


def start_index(timesteps, strength: float) -> int:
    """Where in a descending timestep list (``timesteps[0]`` the noisiest, T − 1) SDEdit starts:
    at the first timestep at or below ``strength`` of the way from 0 to ``timesteps[0]``, so
    strength means a noise level whatever the spacing (log-SNR spacing packs its steps at low
    noise: counting steps instead would make the same strength a much lighter edit there). At
    least one step when strength > 0; ``len(timesteps)`` (no step) at strength 0."""
    s = check_strength(strength)
    ts = list(timesteps)
    if s == 0.0 or not ts:
        return len(ts)
    limit = s * ts[0] + 1e-9
    return min(next((i for i, t in enumerate(ts) if t <= limit), len(ts)), len(ts) - 1)


def sample_from(sampler, denoiser, x_t: torch.Tensor, schedule, timesteps, start: int = 0,
                **kwargs) -> torch.Tensor:
    """Run ``sampler`` (a name in ``SAMPLERS`` or one of the functions) over
    ``timesteps[start:]`` from ``x_t``, which must be at noise level ``timesteps[start]``.
    ``kwargs``: the samplers' ``generator``, ``callback``, ``eta`` and ``end``."""
    fn = SAMPLERS[sampler] if isinstance(sampler, str) else sampler
    ts = list(timesteps)[start:]
    if not ts:
        return x_t
    return fn(denoiser, x_t, schedule, ts, **kwargs)


def noise_to(schedule, x0: torch.Tensor, t: int, generator: torch.Generator) -> torch.Tensor:
    """A draw of q(x_t | x_0) with the noise taken from ``generator`` (on the CPU, as the samplers)."""
    eps = torch.randn(x0.shape, generator=generator).to(x0)
    tt = torch.full((x0.shape[0],), int(t), dtype=torch.long, device=x0.device)
    return schedule.q_sample(x0, tt, eps)


def renoise(schedule, x_s: torch.Tensor, s: int, t: int, generator: torch.Generator) -> torch.Tensor:
    """A draw of q(x_t | x_s) for t > s: the forward process from one noise level up to another
    (RePaint's jump back)."""
    a = schedule.alpha_bar(t) / schedule.alpha_bar(s)
    eps = torch.randn(x_s.shape, generator=generator).to(x_s)
    return math.sqrt(a) * x_s + math.sqrt(max(1.0 - a, 0.0)) * eps


class KeepKnown:
    """Denoiser wrapper: x̂_0 is the known ``x0`` wherever ``keep`` is true (broadcast over
    channels), the model's prediction elsewhere. Every sampler's update then takes the known
    region along q(x_s | x_t, x_0), and its final step returns exactly ``x0`` there."""

    def __init__(self, denoiser, x0: torch.Tensor, keep: torch.Tensor):
        self.denoiser, self.x0, self.keep = denoiser, x0, keep

    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        return torch.where(self.keep, self.x0, self.denoiser(x, t))


def repaint_segments(timesteps, jumps: int, jump_length: int) -> list[tuple[list[int], int, int]]:
    """RePaint's schedule as sampler segments: (timesteps, end, repeats). Each segment of
    ``jump_length`` steps runs, then is noised back to its first timestep and run again, 1 +
    ``jumps`` times in all; the last segment (ending in clean data) runs once."""
    ts = list(timesteps)
    length = max(1, int(jump_length))
    out = []
    for i in range(0, len(ts), length):
        end = ts[i + length] if i + length < len(ts) else -1
        out.append((ts[i:i + length], end, 1 + (max(0, int(jumps)) if end >= 0 else 0)))
    return out


def executed_timesteps(timesteps, jumps: int, jump_length: int) -> list[int]:
    """Every timestep the RePaint run denoises at, in order (for progress and reverse GIFs)."""
    return [t for seg, _, reps in repaint_segments(timesteps, jumps, jump_length)
            for _ in range(reps) for t in seg]


def repaint(sampler, denoiser, x: torch.Tensor, schedule, timesteps, x0: torch.Tensor,
            keep: torch.Tensor, *, jumps: int = 2, jump_length: int = 5, generator=None,
            callback=None, eta: float = 0.0) -> torch.Tensor:
    """Inpaint with any sampler: ``x`` is at ``timesteps[0]``; ``x0``/``keep`` the known data
    and where it is known. ``callback`` sees one running step count over all segments."""
    den = KeepKnown(denoiser, x0, keep)
    done = [0]

    def cb(i, x_t, x0_pred):
        if callback is not None:
            callback(done[0], x_t, x0_pred)
        done[0] += 1

    for seg, end, reps in repaint_segments(timesteps, jumps, jump_length):
        start = x
        for r in range(reps):
            if r:
                start = renoise(schedule, x, end, seg[0], generator)
            x = sample_from(sampler, den, start, schedule, seg, generator=generator, callback=cb,
                            eta=eta, end=end)
    return x


# --- running edits on a pipeline ----------------------------------------------------------------


def _labels(pipe, class_names, num: int) -> tuple[list[int], list[str] | None]:
    """Labels for ``num`` outputs: spread over ``class_names``, or the null class (no guidance)."""
    if class_names:
        return pipe.spread_labels(list(class_names), num)
    return [pipe.null_label] * num, None


@torch.no_grad()
def vary_model(pipe, pixels: torch.Tensor, labels, strength: float, *, seed: int = 0,
               batch_size: int = 64, callback=None, progress: bool = False,
               options: SamplingOptions | None = None, **user) -> torch.Tensor:
    """SDEdit on model-space pixels (N, C, S, S), one label per row -> pixels (N, C, S, S).

    ``options`` and ``user`` as for ``DiffusionPipeline.sample`` (unset ones from the model's
    defaults); ``user`` may add ``vary_flags``' (class transfer: the model's
    ``transfer_guidance`` unless set).
    """
    opts = pipe.resolve_options(options, user)
    ts = opts.timesteps(pipe.schedule)
    start = start_index(ts, strength)
    if start == len(ts):
        return pixels.clone()
    labels = torch.as_tensor(labels, dtype=torch.long)
    gen = torch.Generator().manual_seed(int(seed))
    scale = 1.0
    if start == 0 and opts.init_noise == "harmonic":
        scale = pipe.schedule.harmonic_init_scale(ts)
    # Tiles (opts.tileable): encoded and decoded as they repeat, and denoised as generation
    # denoises tiles (told to wrap, or through noise rolling), so the variants wrap too.
    wrap = opts.tileable
    rolls = pipe.tile_rolls(seed, opts)

    def run_batch(sl, cb):
        z0 = pipe.encode(pixels[sl], wrap=wrap)
        if start == 0:  # pure noise, drawn as generation draws it: strength 1 = generating
            x = (torch.randn(z0.shape, generator=gen) * scale).to(z0)
        else:
            x = noise_to(pipe.schedule, z0, ts[start], gen)
        return sample_from(opts.sampler, pipe.denoiser(labels[sl], opts, rolls), x,
                           pipe.schedule, ts, start, generator=gen, callback=cb, eta=opts.eta)

    tiles = f", tileable {wrap}" if wrap else ""
    return pipe.run_batches(len(pixels), batch_size, len(ts) - start, progress,
                        f"varying ({opts.sampler}, {len(ts) - start}/{len(ts)} steps{tiles})",
                        callback, run_batch, wrap=wrap)


def latent_keep(pipe, keep_px: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) bool known pixels -> the known cells of the model's grid: in latent mode a
    cell is redrawn when any pixel it covers is."""
    if not pipe.latent:
        return keep_px
    redo = F.adaptive_max_pool2d((~keep_px).float(), pipe.noise_shape[-1])
    return redo == 0


@torch.no_grad()
def inpaint_model(pipe, pixels: torch.Tensor, keep_px: torch.Tensor, labels, *, seed: int = 0,
                  jumps: int = 2, jump_length: int | None = None, batch_size: int = 64,
                  callback=None, progress: bool = False, options: SamplingOptions | None = None,
                  **user) -> torch.Tensor:
    """RePaint on model-space pixels (N, C, S, S) with known pixels ``keep_px`` (N, 1, S, S)
    -> decoded pixels (N, C, S, S); composite with ``composite`` to keep the input exactly.
    ``options`` and ``user`` as for ``DiffusionPipeline.sample``."""
    opts = pipe.resolve_options(options, user)
    ts = opts.timesteps(pipe.schedule)
    length = jump_length or default_jump_length(len(ts))
    if jumps < 0 or length < 1:
        raise UserError(f"--jumps {jumps} must be >= 0 and the jump length >= 1")
    labels = torch.as_tensor(labels, dtype=torch.long)
    keep = latent_keep(pipe, keep_px.bool())
    gen = torch.Generator().manual_seed(int(seed))

    def run_batch(sl, cb):
        z0 = pipe.encode(pixels[sl])
        k = keep[sl].to(z0.device)
        known = noise_to(pipe.schedule, z0, ts[0], gen)  # the input at the first noise level
        x = torch.where(k, known, torch.randn(z0.shape, generator=gen).to(z0))
        return repaint(opts.sampler, pipe.denoiser(labels[sl], opts), x, pipe.schedule, ts, z0, k,
                       jumps=jumps, jump_length=length, generator=gen, callback=cb, eta=opts.eta)

    n_steps = len(executed_timesteps(ts, jumps, length))
    return pipe.run_batches(len(pixels), batch_size, n_steps, progress,
                        f"inpainting ({opts.sampler}, {n_steps} steps)", callback, run_batch)


def default_jump_length(n_steps: int) -> int:
    """Five segments over the run (RePaint uses 10 steps of 250; ours are fewer and longer)."""
    return max(1, math.ceil(n_steps / 5))


def composite(generated: np.ndarray, inputs: np.ndarray, redo: np.ndarray) -> np.ndarray:
    """Generated pixels where ``redo`` (N, S, S), the input's bytes everywhere else."""
    return np.where(redo[..., None], generated, inputs)


# --- finishing ------------------------------------------------------------------------------------


def input_palette(rgba: np.ndarray, name: str = "the input"):
    """The input sprite's own colours as a ``PaletteInfo`` (clustered only past 256 colours)."""
    from ldm_sprites.finish.palette import PaletteInfo, alpha_threshold_for, cluster_colors
    from ldm_sprites.finish.palette_files import MAX_PALETTE
    from ldm_sprites.finish.snap import unique_colors

    threshold = alpha_threshold_for(rgba[..., 3])
    rgb = rgba[..., :3][rgba[..., 3] >= threshold]
    colors, inverse = unique_colors(rgb)
    if len(colors) > MAX_PALETTE:
        colors, _ = cluster_colors(rgb)
    else:
        colors = colors[np.argsort(-np.bincount(inverse, minlength=len(colors)), kind="stable")]
    return PaletteInfo(colors, alpha_threshold=threshold, source=f"{name}'s own colours")


def finish_edits(sprites: np.ndarray, sources: list[EditInput], owner: list[int], *,
                 options=None, palette_info=None, keep_palette: bool = False,
                 wrap: str | None = None) -> np.ndarray:
    """The finishing stage on edited sprites, as ``generate`` finishes: ``options`` a
    ``FinishOptions``, 'auto' or None (on) or 'none' (raw pixels); the palette is the model's
    ``palette_info``, or with ``keep_palette`` each input's own colours. ``wrap``: the sprites
    are tiles, finished as they repeat (``finish_sprites``)."""
    from ldm_sprites.finish import FinishOptions, finish_sprites

    if options is None or isinstance(options, str):
        options = FinishOptions(mode=options or "auto")
        options.validate()
    if keep_palette:
        if options.palette is not None:
            raise UserError("use either --keep-palette (the input's colours) or --palette, not both")
        options = replace(options, mode="auto")
        out = sprites.copy()
        for j, inp in enumerate(sources):
            rows = [i for i, o in enumerate(owner) if o == j]
            if rows:
                out[rows] = finish_sprites(sprites[rows], input_palette(inp.fitted, inp.name),
                                           options, wrap=wrap)
        return out
    return finish_sprites(sprites, palette_info, options, wrap=wrap)


# --- the two edits, sprites in and sprites out ----------------------------------------------------


def _palette(pipe, palette_info):
    """The palette to finish in: the caller's, else the one the pipeline loaded with the model."""
    return palette_info if palette_info is not None else getattr(pipe, "palette", None)


def is_transfer(classes, strength: float) -> bool:
    """Class transfer: inputs redrawn as a class, which gets the model's ``transfer_guidance``.
    At strength 1 nothing of the input is left: that is generation, with generation's guidance
    (and generation's sprites, byte for byte)."""
    return bool(classes) and strength < 1


def vary_flags(classes, strength: float) -> dict:
    """The ``resolve_sampling`` flags of a ``vary`` job: class transfer (its guidance) and, below
    strength 1, SDEdit from partly noised inputs (the model's ``vary_*`` sampling defaults)."""
    return {"transfer": is_transfer(classes, strength), "sdedit": 0 < strength < 1}


@dataclass
class EditResult:
    sprites: np.ndarray          # (M, S, S, 4) uint8 RGBA outputs
    names: list[str]             # class (or input) name of each output
    owner: list[int]             # which input each output came from
    inputs: list[EditInput]
    redo: np.ndarray | None = None   # inpainting: (S, S) bool, the redrawn pixels


def vary_sprites(pipe, sources, strength: float = 0.5, num: int = 1, classes=None, seed: int = 0,
                 batch_size: int = 64, callback=None, progress: bool = False, finish=None,
                 palette_info=None, keep_palette: bool = False,
                 options: SamplingOptions | None = None, **user) -> EditResult:
    """``num`` variations of each input (SDEdit); with ``classes``, class transfer.
    ``options``: resolved with ``vary_flags`` (what ``vary`` records); else ``user``'s sampling
    values over the model's defaults."""
    check_strength(strength)
    # Bad options fail before any work.
    options = pipe.sampling_options(**user, **vary_flags(classes, strength)) if options is None \
        else pipe.resolve_options(options, user)
    inputs = load_inputs(pipe, sources)
    labels, names = _labels(pipe, classes, num)
    owner = [j for j in range(len(inputs)) for _ in range(num)]
    fitted = np.stack([inp.fitted for inp in inputs])
    x = vary_model(pipe, to_model(pipe, fitted[owner]), labels * len(inputs), strength, seed=seed,
                   batch_size=batch_size, callback=callback, progress=progress, options=options)
    if strength == 0:  # nothing was generated: the inputs, byte for byte, unfinished
        sprites = fitted[owner].copy()
    else:
        sprites = finish_edits(pipe.to_rgba(x), inputs, owner, options=finish,
                               palette_info=_palette(pipe, palette_info),
                               keep_palette=keep_palette, wrap=options.tileable)
    out_names = (names * len(inputs)) if names else [inputs[o].name for o in owner]
    return EditResult(sprites, out_names, owner, inputs)


def inpaint_sprites(pipe, source, mask=None, region: str | None = None, num: int = 1,
                    classes=None, seed: int = 0, jumps: int = 2, jump_length: int | None = None,
                    batch_size: int = 64, callback=None, progress: bool = False, finish=None,
                    palette_info=None, keep_palette: bool = False,
                    options: SamplingOptions | None = None, **user) -> EditResult:
    """``num`` inpaintings of one input: ``mask`` (file or array of the input's size; True/white/
    opaque = redraw) or ``region`` 'x,y,w,h'. Unmasked pixels stay the input's, bit for bit.
    ``options`` and ``user`` as for ``DiffusionPipeline.sample``."""
    options = pipe.resolve_options(options, user)   # bad options fail before any work
    if (mask is None) == (region is None):
        raise UserError("give the region to redraw: --mask MASK.png or --region x,y,w,h (one)")
    inputs = load_inputs(pipe, source)
    if len(inputs) != 1:
        raise UserError(f"inpaint takes one sprite, got {len(inputs)}")
    inp = inputs[0]
    h, w = inp.original.shape[:2]
    if region is not None:
        raw, what = parse_region(region, w, h), f"--region {region}"
    else:
        raw = read_mask(mask, w, h)
        what = "the mask" if isinstance(mask, np.ndarray) else str(mask)
    redo = fit_mask(raw, inp, what)
    labels, names = _labels(pipe, classes, num)
    fitted = np.repeat(inp.fitted[None], num, 0)
    keep_px = torch.from_numpy(~redo)[None, None].expand(num, 1, *redo.shape)
    x = inpaint_model(pipe, to_model(pipe, fitted), keep_px, labels, seed=seed, jumps=jumps,
                      jump_length=jump_length, batch_size=batch_size, callback=callback,
                      progress=progress, options=options)
    owner, redo_n = [0] * num, np.repeat(redo[None], num, 0)
    # Finish the composite, so that speckle removal at the seam sees the input's real pixels
    # next to the new ones; then put the input's pixels back (finishing may touch them too).
    sprites = finish_edits(composite(pipe.to_rgba(x), fitted, redo_n), inputs, owner,
                           options=finish, palette_info=_palette(pipe, palette_info),
                           keep_palette=keep_palette)
    sprites = composite(sprites, fitted, redo_n)
    return EditResult(sprites, names or [inp.name] * num, owner, inputs, redo)
