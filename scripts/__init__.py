"""Digit Lab's command-line scripts (train, evaluate, studies, benchmarks); run them as `python scripts/NAME.py`
or through the console entry points of pyproject.toml."""
