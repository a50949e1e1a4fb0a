"""ldm-sprites: latent, class-conditional diffusion for sprites, and export to game-ready assets."""

__version__ = "0.1.0"
