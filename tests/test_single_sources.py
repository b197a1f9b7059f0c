"""One source for every fact (issue 21, point 2): the facts below are written in one place, and the
other modules use that place. Each test reads the source files (as tests/test_architecture.py does)
or compares objects, so a copy that creeps back in fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.paths import REPO_ROOT

#: the code a user runs: the package, the dashboard, the scripts and the benchmarks
CODE_DIRS = ("core", "dashboard", "scripts", "benchmarks")


def code_files() -> list[Path]:
    return sorted(p for folder in CODE_DIRS for p in (REPO_ROOT / folder).rglob("*.py"))


def where(pattern: str) -> set[str]:
    """The code files (relative paths) with a line matching ``pattern`` (a regular expression)."""
    regex = re.compile(pattern)
    return {p.relative_to(REPO_ROOT).as_posix() for p in code_files()
            if any(regex.search(line) for line in p.read_text(encoding="utf-8").splitlines())}


def test_the_digit_colours_are_written_once():
    from dashboard.common import DIGIT_COLOURS, TABLEAU_10
    from dashboard.components.latent_scatter import DIGIT_PALETTE

    assert DIGIT_PALETTE is DIGIT_COLOURS is TABLEAU_10 and len(set(TABLEAU_10)) == 10
    # a Python string of a Tableau colour other than the first (the scatter's JavaScript keeps '#4e79a7'
    # as its fallback when it is handed no colours)
    assert where(r'"#(f28e2b|e15759|76b7b2|59a14f|edc948|b07aa1|ff9da7|9c755f|79706e)"') == {"dashboard/common.py"}


def test_the_bce_of_probabilities_is_computed_once():
    assert where(r"binary_cross_entropy\(") == {"core/models/functional.py"}


def test_the_share_a_classifier_reads_right_is_counted_once():
    """core.evaluation.metrics.accuracy counts it; classifier_accuracy runs a model and counts with it
    (the evaluator's statistic "judged_accuracy" counts the cached judge logits with accuracy)."""
    assert where(r"argmax\((dim=)?1\)\S*\s*==|==\s*\S+\.argmax\(") == {"core/evaluation/metrics.py"}
    assert where(r"def \w*accuracy\(") == {"core/evaluation/metrics.py", "core/evaluation/evaluator.py"}


def test_the_encoder_input_is_chosen_once():
    """core.models.capabilities.encoder_input: image+digit where the model takes it, else the image.
    (core/evaluation/specs.py asks another question: whether a model takes both inputs, so that the
    image-only reconstruction metric applies.)"""
    found = where(r"IMAGE_AND_DIGIT (in|if)\b|input_modes\[0\]")
    assert found - {"core/evaluation/specs.py"} == {"core/models/capabilities.py"}


@pytest.mark.parametrize("fact", ["BETAS = (", "SEEDS = (", '"dropout", 0.2', '"l1", 1e-5'])
def test_the_study_grids_are_not_written_in_the_study(fact):
    """The β values, seeds and regularizers come from experiments/seed004_*.toml."""
    assert fact not in (REPO_ROOT / "core" / "studies" / "vae_study.py").read_text(encoding="utf-8")
