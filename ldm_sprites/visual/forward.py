"""The forward (noising) process as an animation: real sprites pushed through q(x_t | x_0).

One fixed ε per sprite is reused for every t and every schedule, so consecutive frames morph
smoothly and the schedules differ only in how fast ᾱ_t falls, which is exactly what to compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ldm_sprites.data.tensors import model_to_rgba_uint8, rgba_uint8_to_model
from ldm_sprites.diffusion.schedule import NoiseSchedule
from ldm_sprites.visual import layout


def frame_timesteps(T: int, frames: int) -> list[int]:
    """``frames`` timesteps from 0 (clean) to T-1 (the last, pure-noise step), ascending."""
    return layout.pick_evenly(T, max(2, frames))


def noised_sequence(x0: torch.Tensor, schedule: NoiseSchedule, timesteps: list[int],
                    noise: torch.Tensor) -> torch.Tensor:
    """(F, N, C, H, W): x_t for each t in ``timesteps``, all with the same ``noise``."""
    out = []
    for t in timesteps:
        tt = torch.full((x0.shape[0],), int(t), dtype=torch.long)
        out.append(schedule.q_sample(x0, tt, noise))
    return torch.stack(out)


def forward_process(images: torch.Tensor, schedules: list[str], T: int = 1000, frames: int = 20,
                    channels: int = 4, seed: int = 0):
    """uint8 (N, 4, H, W) sprites -> (timesteps, {schedule: (F, N, C, H, W) model-space x_t})."""
    x0 = rgba_uint8_to_model(images, channels)
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(x0.shape, generator=gen)
    ts = frame_timesteps(T, frames)
    seqs = {k: noised_sequence(x0, NoiseSchedule(k, T), ts, noise) for k in schedules}
    return ts, seqs


def render_forward(ts: list[int], seqs: dict[str, torch.Tensor], T: int, gif_path: str | Path,
                   fps: float = 6.0, strip_sprites: int = 4, strip_columns: int = 8) -> list[Path]:
    """Write the GIF (a sprite grid per schedule, side by side, per t) and the PNG strip."""
    names = list(seqs)
    n, size = seqs[names[0]].shape[1], seqs[names[0]].shape[-1]
    scale = layout.display_scale(size)
    nrow = max(1, int(np.ceil(np.sqrt(n))))
    sched = {k: NoiseSchedule(k, T) for k in names}
    rgba = {k: [model_to_rgba_uint8(x) for x in seqs[k]] for k in names}
    frames = []
    for i, t in enumerate(ts):
        panels = [layout.titled(layout.panel(rgba[k][i], nrow=nrow, scale=scale),
                                f"{k}  abar={sched[k].alpha_bar(t):.3f}") for k in names]
        frames.append(layout.titled(layout.hstack(panels, gap=3 * layout.GAP),
                                    f"forward process  t = {t}"))
    gif = layout.save_gif(gif_path, frames, fps=fps)

    cols = layout.pick_evenly(len(ts), strip_columns)
    m = min(strip_sprites, n)
    cells, row_labels = [], []
    for k in names:
        for j in range(m):
            cells.append([layout.panel(rgba[k][i][j:j + 1], scale=scale) for i in cols])
            row_labels.append(f"{k} #{j + 1}")
    strip = layout.table(cells, row_labels, [f"t={ts[i]}" for i in cols],
                         title="forward process q(x_t | x_0), same noise for every t")
    from ldm_sprites.image_files import save_png

    return [gif, save_png(layout.strip_path(gif_path), strip)]
