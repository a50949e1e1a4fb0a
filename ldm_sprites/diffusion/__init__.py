"""Diffusion: noise schedules, the DiT denoiser, classifier-free guidance and samplers."""
