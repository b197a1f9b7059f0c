"""Studies over many trainings.

Seed 004's β sweep, regularization ablation, cross-validation and timing (vae_study).
"""
