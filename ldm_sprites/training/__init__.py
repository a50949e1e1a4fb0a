"""Training machinery shared by the diffusion model and the autoencoder."""
