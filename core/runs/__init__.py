"""Run folders.

The torch-free format (format), the catalogue that lists runs without loading them (catalog), save
and load (store).
"""
