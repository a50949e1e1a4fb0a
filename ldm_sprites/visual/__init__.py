"""Pictures of the diffusion process for people: forward/reverse animations, noise statistics,
training reports. Every writer here is deterministic (same input and seed -> same bytes)."""
