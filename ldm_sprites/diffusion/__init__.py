"""Diffusion: noise schedules, the DiT denoiser, its training task, classifier-free guidance and
samplers, and the pipeline that samples a trained model."""
