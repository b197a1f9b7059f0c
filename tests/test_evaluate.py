"""scripts/evaluate.py end to end on a tiny subset, as a user runs it, and the results table."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.evaluation.inception import inception_weights
from core.evaluation.specs import METRICS
from core.evaluation.table import (
    COLUMNS,
    TableError,
    best_per_metric,
    default_rows,
    merge_rows,
    read_table,
    summarize,
    write_table,
)
from core.paths import REPO_ROOT

EVALUATE = REPO_ROOT / "scripts" / "evaluate.py"
TINY = ["--n-test", "20", "--fid-per-digit", "2", "--gia-per-digit", "2"]


def run_evaluate(*args, tmp_path: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", DIGITLAB_CACHE=str(tmp_path / "cache"),
               DIGITLAB_INCEPTION=str(inception_weights(log=lambda line: None)))
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run([sys.executable, str(EVALUATE), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
def test_evaluate_end_to_end_on_a_tiny_subset(tmp_path, mnist_root):
    table_path = tmp_path / "results.csv"
    runs = ["cae-z8-s0", "cgan-z100-s0", "conv-vae-z2-s0"]
    result = run_evaluate("--runs", *runs, "--table", table_path, "--device", "cpu", "--reference", *TINY,
                          "--data-dir", mnist_root, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    table = read_table(table_path)
    assert set(table["run"]) == {*runs, "mnist-train-10k"}
    for run in runs:
        assert set(table[table["run"] == run]["metric"]) == set(METRICS)
    rows = table.set_index(["run", "metric"])
    # figures with their sample counts and device
    assert rows.loc[("cae-z8-s0", "generated_accuracy"), "n"] == 20
    assert rows.loc[("cae-z8-s0", "fid_inception"), "status"] == "ok"
    assert rows.loc[("cae-z8-s0", "fid_inception"), "n"] == 20 and rows.loc[("cae-z8-s0", "fid_inception"), "value"] > 0
    assert rows.loc[("cae-z8-s0", "classification_accuracy"), "n"] == 20
    assert rows.loc[("cae-z8-s0", "reconstruction_bce"), "value"] > 0
    assert set(table["device"]) == {"cpu"}
    assert rows.loc[("cae-z8-s0", "reconstruction_bce"), "weights"] == "float16 (shipped)"
    # what does not apply says so instead of a number
    for run, metric in [("cgan-z100-s0", "classification_accuracy"), ("cgan-z100-s0", "reconstruction_bce"),
                        ("conv-vae-z2-s0", "generated_accuracy")]:
        assert rows.loc[(run, metric), "status"] == "n/a" and math.isnan(rows.loc[(run, metric), "value"])
    assert rows.loc[("conv-vae-z2-s0", "fid_judge"), "mode"] == "prior samples (no label)"
    assert rows.loc[("mnist-train-10k", "generated_accuracy"), "value"] > 0.9  # the judge reads real digits
    assert "| CAE | 8 | 0 |" in result.stdout and "(0.9)" in result.stdout  # Table 1 beside ours

    # --skip-done computes nothing twice
    done = ["generated_accuracy", "fid_inception", "fid_judge", "classification_accuracy", "reconstruction_bce"]
    again = run_evaluate("--runs", "cae-z8-s0", "--table", table_path, "--device", "cpu", "--skip-done", *TINY,
                         "--metrics", *done, "--data-dir", mnist_root, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already in the table" in again.stdout
    assert read_table(table_path)["evaluated_at"].tolist() == table["evaluated_at"].tolist()


def test_summary_marks_figures_from_fewer_seeds_than_their_row(tmp_path):
    """--summary (the README table) prints mean ± std over seeds; a figure computed for fewer
    seeds than the rest of its row (Inception FID: seed 0 only) says which seeds it holds."""
    table = read_table(REPO_ROOT / "checkpoints" / "results.csv")  # CAE z=8's shipped figures, FID of seed 0 only
    table = table[table["run"].str.startswith("cae-z8-") & ((table["metric"] != "fid_inception") | (table["seed"] == 0))]
    write_table(table, tmp_path / "results.csv")
    result = run_evaluate("--summary", "--table", tmp_path / "results.csv", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(row for row in result.stdout.splitlines() if row.startswith("| CAE | 8 | 0,1,2 |"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    header = [cell.strip() for cell in result.stdout.splitlines()[0].strip("|").split("|")]
    fid = cells[header.index(METRICS["fid_inception"].label)]
    assert fid.endswith("[seed 0] (424.12)") and "±" not in fid  # Table 1's FID in brackets
    accuracy = cells[header.index(METRICS["generated_accuracy"].label)]
    assert "±" in accuracy and "[seed" not in accuracy and accuracy.endswith("(0.9)")  # Table 1 in brackets


@pytest.mark.parametrize("args, message", [
    (["--metrics", "nope"], "invalid choice: 'nope'"),
    (["--runs", "no-such-run"], "no run folder no-such-run"),
    (["--fid-per-digit", "0"], "expected a number of at least 1"),
    (["--checkpoints", "/no/such/folder"], "no such folder"),
    (["--set", "guidance"], "expected NAME=VALUE (e.g. guidance=1.5), got 'guidance'"),
    (["--set", "=2"], "expected NAME=VALUE"),
])
def test_evaluate_rejects_bad_arguments(tmp_path, args, message):
    result = run_evaluate(*args, "--table", tmp_path / "t.csv", tmp_path=tmp_path, timeout=120)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "t.csv").exists()


def test_evaluate_keeps_a_broken_table(tmp_path):
    broken = tmp_path / "results.csv"
    broken.write_text("run,metric\ncae-z8-s0,fid_judge\n")
    result = run_evaluate("--runs", "cae-z8-s0", "--table", broken, tmp_path=tmp_path, timeout=120)
    assert result.returncode == 2 and "lacks the column" in result.stderr
    assert broken.read_text() == "run,metric\ncae-z8-s0,fid_judge\n"


# --- the table's arithmetic -------------------------------------------------------------------------

def _row(run, model, latent, seed, metric, value, status="ok", mode=""):
    return {"run": run, "model": model, "display_name": model.upper(), "latent_dim": latent, "seed": seed,
            "metric": metric, "status": status, "value": value, "spread": None, "n": 10, "mode": mode,
            "device": "cpu", "weights": "", "protocol": "", "note": "", "seconds": 0.1, "evaluated_at": ""}


def test_summary_is_mean_and_sample_std_over_seeds_and_marks_the_best():
    rows = [_row(f"cae-z8-s{s}", "cae", 8, s, "reconstruction_bce", v) for s, v in enumerate([80.0, 82.0, 84.0])]
    rows += [_row(f"cvae-z8-s{s}", "cvae", 8, s, "reconstruction_bce", v) for s, v in enumerate([90.0, 92.0])]
    rows += [_row("cae-z8-s0", "cae", 8, 0, "classification_accuracy", 0.95),
             _row("cvae-z8-s0", "cvae", 8, 0, "classification_accuracy", 0.97),
             _row("cgan-z100-s0", "cgan", 100, 0, "classification_accuracy", None, status="n/a")]
    summary = summarize(merge_rows(None, rows)).set_index(["model", "metric"])
    assert summary.loc[("cae", "reconstruction_bce"), "mean"] == pytest.approx(82.0)
    assert summary.loc[("cae", "reconstruction_bce"), "std"] == pytest.approx(2.0)  # ddof=1, as for Table 1
    assert summary.loc[("cae", "reconstruction_bce"), "seeds"] == "0,1,2"
    assert summary.loc[("cvae", "reconstruction_bce"), "std"] == pytest.approx(math.sqrt(2.0))
    assert math.isnan(summary.loc[("cae", "classification_accuracy"), "std"])  # one seed: no std
    assert summary.loc[("cgan", "classification_accuracy"), "status"] == "n/a"
    best = best_per_metric(summarize(merge_rows(None, rows)))
    assert best["reconstruction_bce"] == ("cae", 8)  # lower is better
    assert best["classification_accuracy"] == ("cvae", 8)  # higher is better


def test_merge_replaces_the_same_run_metric_and_mode_and_keeps_the_rest(tmp_path):
    old = merge_rows(None, [_row("cae-z8-s0", "cae", 8, 0, "fid_judge", 5.0, mode="density"),
                            _row("cae-z8-s0", "cae", 8, 0, "fid_judge", 50.0, mode="deterministic")])
    new = merge_rows(old, [_row("cae-z8-s0", "cae", 8, 0, "fid_judge", 4.0, mode="density")])
    assert sorted(new["value"]) == [4.0, 50.0]
    assert default_rows(new)["value"].tolist() == [4.0]  # the CAE's default generation mode is density
    path = tmp_path / "t.csv"
    new.to_csv(path, index=False)
    assert list(read_table(path).columns) == list(COLUMNS)


def test_read_table_errors(tmp_path):
    with pytest.raises(TableError, match="no results table"):
        read_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TableError):
        read_table(bad)


def test_shipped_table_covers_every_shipped_run_and_metric():
    """checkpoints/results.csv holds a row for every shipped run × metric, each figure with its
    sample count and device, at the full protocol sizes (10,000 generated images for FID and IS)."""
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.format import list_run_dirs

    table = read_table(REPO_ROOT / "checkpoints" / "results.csv")
    shipped = {p.name for p in list_run_dirs(SHIPPED_CHECKPOINTS) if not p.name.startswith("judge")}
    assert set(table["metric"]) <= set(METRICS)
    assert set(table["status"]) <= {"ok", "n/a", "unavailable"}
    for run in shipped:
        assert set(METRICS) <= set(table[table["run"] == run]["metric"]), run
    # the floor: Inception FID at 10,000 samples for every shipped (seed-0) run (all of
    # them generate), and real training images closer to the test set than any model's
    fid = table[(table["metric"] == "fid_inception") & (table["status"] == "ok")].set_index("run")
    assert shipped <= set(fid.index), shipped - set(fid.index)
    assert (fid["n"] == 10000).all()
    real = fid.loc["mnist-train-10k", "value"]
    assert 0 < real < fid.loc[sorted(shipped), "value"].min() and fid["value"].max() < 500
    ok = table[table["status"] == "ok"]
    assert ok["value"].notna().all() and (ok["n"] > 0).all() and (ok["device"] != "").all()
    models = ok[ok["model"] != "real-data"]
    for metric, spec in METRICS.items():  # each spec's sample set, as scripts/evaluate.py --skip-done expects
        n = {"gia": 1000, "fid": 10000, "test": 10000}[spec.sample_set]
        assert (models[models["metric"] == metric]["n"] == n).all(), metric
    assert (table[table["status"] != "ok"]["note"] != "").all()  # every missing number says why


def test_evaluate_named_generation_modes_only(tmp_path, mnist_root):
    """--modes scores only the named modes each run has (here a fitted sampler and the GAN's default)."""
    table_path = tmp_path / "results.csv"
    result = run_evaluate("--runs", "cae-z8-s0", "cgan-z100-s0", "--table", table_path, "--device", "cpu", *TINY,
                          "--metrics", "fid_judge", "--modes", "GMM (BIC)", "noise", "--data-dir", mnist_root,
                          tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    table = read_table(table_path)
    assert sorted(zip(table["run"], table["mode"])) == [("cae-z8-s0", "GMM (BIC)"), ("cgan-z100-s0", "noise")]
    assert (table["status"] == "ok").all()


def test_set_keeps_its_rows_out_of_the_shipped_table(tmp_path):
    shipped = REPO_ROOT / "checkpoints" / "results.csv"
    before = shipped.read_bytes()
    result = run_evaluate("--runs", "cae-z8-s0", "--set", "guidance=1.5", "--table", shipped, tmp_path=tmp_path,
                          timeout=120)
    assert result.returncode == 2 and "give --table FILE (another table) or --no-write" in result.stderr
    assert shipped.read_bytes() == before


@pytest.mark.slow
def test_set_changes_the_model_and_says_so_in_the_rows(tmp_path, mnist_root):
    """--set guidance=0 makes the diffusion model sample without its digit, which the judge sees; a
    run without that argument is skipped with a message naming its arguments."""
    table_path = tmp_path / "results.csv"
    args = ["--table", table_path, "--device", "cpu", "--n-test", "20", "--gia-per-digit", "3",
            "--metrics", "generated_accuracy", "--data-dir", mnist_root]
    plain = run_evaluate("--runs", "diffusion-z784-s0", *args, "--no-write", tmp_path=tmp_path)
    assert plain.returncode == 0, plain.stderr[-2000:]
    result = run_evaluate("--runs", "diffusion-z784-s0", "cae-z8-s0", "--set", "guidance=0", *args, tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]  # cae-z8-s0 was skipped
    assert "skipped cae-z8-s0: its model has no argument guidance (it has latent_dim" in result.stdout
    row = read_table(table_path).set_index(["run", "metric"]).loc[("diffusion-z784-s0", "generated_accuracy")]
    assert row["note"] == "model arguments changed: guidance=0" and row["n"] == 30
    assert row["value"] < 0.6  # without the digit the samples are mostly other digits (0.9+ with it)
    line = next(row for row in plain.stdout.splitlines() if row.startswith("| Diffusion (reference) | 784 | 0 |"))
    assert float(line.split("|")[4]) >= 0.8  # the same 30 draws with the shipped guidance
