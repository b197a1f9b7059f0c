"""Digit Lab's core: data, models, run folders, training, evaluation, studies and exploration (no streamlit).

Subpackages by job, lowest layer first (a module imports only from its own layer or lower ones;
``tests/test_architecture.py`` checks it): ``paths``/``atomic``/``device`` (leaf utilities) <
``runs.format``, ``data`` < ``models`` < ``runs`` < ``evaluation`` < ``training`` < ``studies``, ``explore``.
"""
