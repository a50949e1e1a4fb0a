"""The names a sampling option can take, at the bottom of the diffusion package: the schema
(``config.py``), the option resolver (``options.py``), the schedule and the CLI's choices all read
them here, without importing torch or each other."""

from __future__ import annotations

# Keys of samplers.SAMPLERS (a test checks).
SAMPLER_NAMES = ("ddpm", "ddim", "dpmpp", "dpmpp3m", "unipc")
# NoiseSchedule.spaced_timesteps.
SPACINGS = ("uniform", "karras", "logsnr")
INIT_NOISE = ("standard", "harmonic")
