"""Ray, an optional dependency: imported only by the commands that use it, with a sentence when it is missing.

``scripts/sweep.py`` and ``scripts/evaluate.py --address`` run on Ray; the dashboard never imports it,
so ``requirements.txt`` leaves it out and pyproject.toml offers it as the ``cluster`` extra.
"""

from __future__ import annotations

#: how to add Ray to Digit Lab's environment (pyproject.toml's optional "cluster" dependencies)
RAY_INSTALL = ".venv/bin/python -m pip install -e '.[cluster]'"


def import_ray():
    """The ``ray`` module, with Ray Tune importable.

    Raises:
        ImportError: Ray is not installed (or cannot be imported); the message says how to install it.
    """
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError as exc:
        reason = "Ray is not installed" if (exc.name or "").split(".")[0] == "ray" else f"Ray could not be imported ({exc})"
        raise ImportError(f"{reason}: sweeps and evaluations on Ray need it (the dashboard does not). "
                          f"Install it with: {RAY_INSTALL}") from None
    return ray
