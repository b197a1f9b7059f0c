"""Training.

The shared trainer with exact resume (trainer), experiment files (experiments), the Ray trainable
and cluster address check (cluster).
"""
