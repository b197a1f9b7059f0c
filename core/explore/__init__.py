"""What the dashboard computes on trained models.

Latent codes, grids, decoding, probabilities (latents), 2-D projections (projections), the drawing
archive (archive).
"""
