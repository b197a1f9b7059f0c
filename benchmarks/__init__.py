"""Digit Lab benchmarks: dashboard gestures in a real browser, load, training and sweep speed (not installed, not tests)."""
