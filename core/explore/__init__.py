"""What the dashboard computes on trained models.

Latent codes, grids, decoding, probabilities (latents), 2-D projections (projections), directions
that change a decoded image and codes fitted to images (directions), the drawing archive (archive).
"""
