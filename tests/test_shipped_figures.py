"""The shipped figures are the code's figures: the evaluator of today, run on the shipped weights,
gives back what ``checkpoints/results.csv`` holds (computed by the code when each run was evaluated).

A refactoring, a new sampler implementation or a changed model that alters any figure fails here.
Covered: every judge metric (Generated Images Accuracy, FID and Inception Score in the judge's
features) and every test-set metric, for one run of each model family that generates on a CPU in
seconds and for each of its generation modes that the table holds. InceptionV3 FIDs (minutes on a
CPU) and the diffusion reference (20 DDIM steps per image) are left to ``scripts/evaluate.py``.
"""

from __future__ import annotations

import pytest

from core.evaluation.specs import UNCONDITIONAL_MODE
from core.evaluation.table import read_table
from core.paths import SHIPPED_CHECKPOINTS

pytestmark = pytest.mark.slow

JUDGE_METRICS = ("generated_accuracy", "fid_judge", "is_judge")
TEST_METRICS = ("classification_accuracy", "reconstruction_bce", "reconstruction_bce_image_only")
#: (run, generation mode as the table names it)
CASES = (
    ("cae-z8-s0", "density"), ("cvae-z8-s0", "posterior"), ("cvae-z8-s0", "GMM (BIC)"),
    ("mlp-cvae-z16-s0", None), ("cgan-z100-s0", None), ("conv-vae-z2-s0", UNCONDITIONAL_MODE),
)
#: runs whose test-set figures are checked (every family that classifies or reconstructs)
TEST_RUNS = ("cae-z8-s0", "cvae-z8-s0", "mlp-cvae-z16-s0", "conv-cvae-z16-s0", "conv-vae-z2-s0")


@pytest.fixture(scope="module")
def evaluator(mnist_root):
    import torch

    from core.data.mnist import load_mnist
    from core.evaluation.evaluator import Evaluator
    from core.runs.store import load_run

    torch.set_num_threads(2)
    test_x, test_y = load_mnist(train=False, root=mnist_root)
    judge = load_run(SHIPPED_CHECKPOINTS / "judge-s0").model
    return Evaluator(test_x, test_y, judge, "cpu", log=lambda line: None, disk_cache=False)


@pytest.fixture(scope="module")
def table():
    return read_table(SHIPPED_CHECKPOINTS / "results.csv")


@pytest.mark.parametrize("run, mode", CASES, ids=[f"{r}-{m or 'default'}" for r, m in CASES])
def test_the_shipped_judge_figures_come_back(evaluator, table, run, mode):
    from core.runs.store import load_run

    model = load_run(SHIPPED_CHECKPOINTS / run).model
    rows = evaluator.evaluate(model, JUDGE_METRICS, mode=None if mode in (None, UNCONDITIONAL_MODE) else mode)
    for row in rows:
        shipped = table[(table["run"] == run) & (table["metric"] == row["metric"]) & (table["mode"] == row["mode"])]
        if row["status"] == "n/a":  # e.g. the accuracy of samples drawn without a digit
            assert shipped.empty or shipped["status"].iloc[0] == "n/a"
            continue
        assert len(shipped) == 1, f"{run} {row['metric']} {row['mode']}: {len(shipped)} shipped rows"
        expected = shipped.iloc[0]
        assert row["n"] == expected["n"]
        assert row["value"] == pytest.approx(expected["value"], rel=1e-4, abs=1e-6), row["metric"]
        if row["spread"] is not None:
            assert row["spread"] == pytest.approx(expected["spread"], rel=1e-3, abs=1e-5)


@pytest.mark.parametrize("run", TEST_RUNS)
def test_the_shipped_test_set_figures_come_back(evaluator, table, run):
    from core.runs.store import load_run

    model = load_run(SHIPPED_CHECKPOINTS / run).model
    for row in evaluator.evaluate(model, TEST_METRICS):
        shipped = table[(table["run"] == run) & (table["metric"] == row["metric"])]
        assert len(shipped) == 1 and shipped["status"].iloc[0] == row["status"], row["metric"]
        if row["status"] == "ok":
            assert row["value"] == pytest.approx(shipped["value"].iloc[0], rel=1e-5), row["metric"]
            assert row["mode"] == shipped["mode"].iloc[0]
