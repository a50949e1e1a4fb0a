"""The reverse (denoising) process, recorded from the sampler callback of a normal sampling run.

There is no second sampling loop: ``ReverseRecorder`` is the ``callback(step, x_t, x0_pred)`` the
samplers already call, so the animation shows exactly what ``generate`` produced, for any sampler.
Each step is decoded at once (through the autoencoder in latent mode) and kept as uint8, so even
a 1000-step DDPM run holds only a few MB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ldm_sprites.visual import layout


def step_labels(timesteps: list[int] | None, n_steps: int) -> list[str]:
    """Frame captions. After step i the sampler's x_t sits at the next timestep (or is clean)."""
    out = []
    for i in range(n_steps):
        if timesteps and i < len(timesteps):
            after = timesteps[i + 1] if i + 1 < len(timesteps) else 0
            out.append(f"step {i + 1}/{len(timesteps)}  x_t at t={after}, "
                       f"x0 predicted at t={timesteps[i]}")
        else:
            out.append(f"step {i + 1}")
    return out


class ReverseRecorder:
    """Sampler callback that keeps decoded x_t and x̂_0 of the first ``max_sprites`` sprites.

    Every ``every``-th step is kept (one GIF frame each); the final step is always added at
    ``save`` so the animation ends on the finished sprites.
    """

    def __init__(self, pipe, max_sprites: int = 8, every: int = 1,
                 timesteps: list[int] | None = None):
        self.pipe = pipe
        self.max_sprites = max(1, int(max_sprites))
        self.every = max(1, int(every))
        self.timesteps = list(timesteps) if timesteps is not None else None
        self.steps: list[int] = []
        self.xt: list[np.ndarray] = []
        self.x0: list[np.ndarray] = []
        self._last = None

    def _decode(self, x: torch.Tensor) -> np.ndarray:
        return self.pipe.to_rgba(self.pipe.decode(x[:self.max_sprites]).cpu())

    def __call__(self, step: int, x_t: torch.Tensor, x0_pred: torch.Tensor) -> None:
        if step % self.every == 0:
            self.steps.append(int(step))
            self.xt.append(self._decode(x_t))
            self.x0.append(self._decode(x0_pred))
            self._last = None
        else:  # kept raw (cheap) in case it turns out to be the final step
            self._last = (int(step), x_t[:self.max_sprites].detach().clone(),
                          x0_pred[:self.max_sprites].detach().clone())

    def finish(self) -> None:
        """Add the final step if ``every`` skipped it."""
        if self._last is not None:
            step, xt, x0 = self._last
            self.steps.append(step)
            self.xt.append(self._decode(xt))
            self.x0.append(self._decode(x0))
            self._last = None

    def frames(self):
        """One RGB frame per kept step: the x_t row above the x̂_0 row, with a caption."""
        self.finish()
        if not self.steps:
            from ldm_sprites.errors import UserError

            raise UserError("the reverse process was not recorded (no sampler step ran)")
        scale = layout.display_scale(self.xt[0].shape[1])
        caps = step_labels(self.timesteps, max(self.steps) + 1)
        out = []
        for s, xt, x0 in zip(self.steps, self.xt, self.x0):
            rows = [layout.hstack([layout.text_image("x_t", 70), layout.panel(xt, nrow=len(xt),
                                                                             scale=scale)]),
                    layout.hstack([layout.text_image("x0 pred", 70),
                                   layout.panel(x0, nrow=len(x0), scale=scale)])]
            out.append(layout.titled(layout.vstack(rows), caps[s]))
        return out

    def save(self, path: str | Path, fps: float = 8.0, strip_sprites: int = 4,
             strip_columns: int = 8) -> list[Path]:
        """Write the GIF at ``path`` and ``<stem>-strip.png`` beside it; returns both paths."""
        from ldm_sprites.image_files import save_png

        gif = layout.save_gif(path, self.frames(), fps=fps)
        cols = layout.pick_evenly(len(self.steps), strip_columns)
        scale = layout.display_scale(self.xt[0].shape[1])
        cells, labels = [], []
        for j in range(min(strip_sprites, len(self.xt[0]))):
            for name, seq in (("x_t", self.xt), ("x0 pred", self.x0)):
                cells.append([layout.panel(seq[i][j:j + 1], scale=scale) for i in cols])
                labels.append(f"#{j + 1} {name}")
        heads = [f"step {self.steps[i] + 1}" + (f" t={self.timesteps[self.steps[i]]}"
                                                 if self.timesteps else "") for i in cols]
        strip = layout.table(cells, labels, heads, title="reverse process: x_t and predicted x0")
        return [gif, save_png(layout.strip_path(path), strip)]
