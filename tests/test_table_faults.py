"""The results table's faults (issue 21, point 5): every cell of checkpoints/results.csv checked
before anything is written, scripts/evaluate.py refusing in words (a bad table, a table it cannot
write) before it computes anything, the Leaderboard showing one escaped message that names the file
relative to the project, MNIST's messages without server paths, and no traceback in the browser."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.data.mnist
import core.paths
import scripts.evaluate
from core.evaluation.table import TableError, add_rows, check_writable, read_table, write_table
from core.paths import REPO_ROOT, SHIPPED_CHECKPOINTS

APP = str(REPO_ROOT / "dashboard" / "app.py")
SHIPPED_LINES = (SHIPPED_CHECKPOINTS / "results.csv").read_text(encoding="utf-8").splitlines()
HEADER = SHIPPED_LINES[0].split(",")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))


def set_cell(path: Path, row: int, column: str, text: str) -> Path:
    """Replace the cell ``column`` of data row ``row`` (1: the first) of the CSV file at ``path``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[row][HEADER.index(column)] = text
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def table_with(path: Path, column: str | None = None, text: str = "") -> Path:
    """The shipped table's first 12 rows written to ``path``, the cell ``column`` of the first row
    (file line 2) replaced by ``text``."""
    write_table(read_table(SHIPPED_CHECKPOINTS / "results.csv").head(12), path)
    return set_cell(path, 1, column, text) if column is not None else path


# --- read_table checks every column ------------------------------------------------------------------

FIRST = "line 2 (run cae-z8-s0, metric generated_accuracy): "


@pytest.mark.parametrize("column, text, words", [
    ("seed", "x", "seed is 'x', not a whole number of at least 0"),
    ("seed", "-1", "seed is '-1', not a whole number of at least 0"),
    ("n", "inf", "n is 'inf', not a whole number of at least 1"),
    ("n", "0", "n is '0', not a whole number of at least 1"),
    ("n", "12.5", "n is '12.5', not a whole number of at least 1"),
    ("latent_dim", "eight", "latent_dim is 'eight', not a whole number of at least 1"),
    ("latent_dim", "2.5", "latent_dim is '2.5', not a whole number of at least 1"),
    ("value", "abc", "value is 'abc', not a number"),
    ("value", "inf", "value is 'inf', not a finite number"),
    ("value", "nan", "value is 'nan', not a finite number"),
    ("value", "1_000", "value is '1_000', not a number"),
    ("value", "", "status is ok but value is blank"),
    ("spread", "-0.5", "spread is '-0.5', not a finite number of at least 0"),
    ("seconds", "-Infinity", "seconds is '-Infinity', not a finite number of at least 0"),
    ("seconds", "soon", "seconds is 'soon', not a finite number of at least 0"),
    ("status", "maybe", "status is 'maybe', not one of ok, n/a, unavailable"),
    ("status", " ok", "status is ' ok', not one of ok, n/a, unavailable"),
    ("status", "", "status is blank"),
    ("evaluated_at", "yesterday", "evaluated_at is 'yesterday', not a date and time (written like 2026-11-22T06:08:15Z)"),
])
def test_read_table_refuses_a_malformed_cell_in_words(tmp_path, column, text, words):
    path = table_with(tmp_path / "results.csv", column, text)
    with pytest.raises(TableError) as info:
        read_table(path)
    message = str(info.value)
    assert message == f"{path} cannot be used as the results table: {FIRST}{words}"


def test_read_table_refuses_an_unknown_metric_and_a_blank_run(tmp_path):
    path = table_with(tmp_path / "results.csv", "metric", "fid_nope")
    with pytest.raises(TableError, match=r"metric is 'fid_nope', not one this version knows \(generated_accuracy, "):
        read_table(path)
    path = table_with(tmp_path / "results.csv", "run", "")
    with pytest.raises(TableError, match=r"line 2 \(run , metric generated_accuracy\): run is blank"):
        read_table(path)


def test_read_table_names_the_first_problems_and_counts_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(core.paths, "REPO_ROOT", tmp_path)  # a table inside the project is named relative to it
    path = table_with(tmp_path / "checkpoints" / "results.csv")
    for row in range(1, 9):  # eight rows with a bad seed
        set_cell(path, row, "seed", "x")
    with pytest.raises(TableError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith("checkpoints/results.csv cannot be used as the results table: line 2 (")
    assert "line 6 (" in message and "line 7 (" not in message and message.endswith("; and 3 more problems")
    assert str(tmp_path) not in message


def test_read_table_refuses_unknown_or_repeated_columns_and_repeated_rows(tmp_path):
    path = tmp_path / "results.csv"
    lines = (table_with(path)).read_text().splitlines()
    path.write_text(lines[0] + ",comment\n" + "\n".join(line + ",mine" for line in lines[1:]) + "\n")
    with pytest.raises(TableError, match="has column.s. this version does not know: comment .they would be lost"):
        read_table(path)
    path.write_text(lines[0] + ",run\n" + "\n".join(line + ",x" for line in lines[1:]) + "\n")
    with pytest.raises(TableError, match="names the column.s. run more than once"):
        read_table(path)
    path.write_text("\n".join([*lines, lines[3]]) + "\n")
    with pytest.raises(TableError, match=r"line 14 repeats the run, metric and mode of line 4 \(cae-z8-s0, "):
        read_table(path)
    path.write_text("\n".join([lines[0], lines[1], "cae-z8-s0,cae", *lines[2:]]) + "\n")
    with pytest.raises(TableError, match="line 3 has 2 cells where the header has 17"):
        read_table(path)
    path.write_text("")
    with pytest.raises(TableError, match="is empty"):
        read_table(path)
    with pytest.raises(TableError, match="is a folder, not a results table"):
        read_table(tmp_path)


def test_blank_rows_are_skipped_with_a_note_and_line_numbers_stay_true(tmp_path):
    path = tmp_path / "results.csv"
    lines = (table_with(path)).read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], "", ",,,,,,,,,,,,,,,,", *lines[2:]]) + "\n")
    table = read_table(path)
    assert len(table) == 12 and table.attrs["notes"] == [f"{path}: lines 3, 4 are blank and were skipped"]
    assert read_table(table_with(path)).attrs["notes"] == []
    set_cell(path, 5, "seed", "x")  # the fifth row of the file: file line 6
    with pytest.raises(TableError, match=r"^\S+ cannot be used as the results table: line 6 \("):
        read_table(path)


def test_a_multiline_cell_does_not_shift_the_line_numbers(tmp_path):
    path = table_with(tmp_path / "results.csv", "note", "two\nlines")  # the first row takes lines 2 and 3
    set_cell(path, 12, "n", "many")
    with pytest.raises(TableError, match="line 14 .*n is 'many'"):
        read_table(path)


def test_the_message_escapes_only_what_came_from_the_file(tmp_path):
    with pytest.raises(TableError) as info:
        read_table(table_with(tmp_path / "results.csv", "seed", "[x](http://e.example)"))
    exc = info.value
    shown = exc.render(lambda text: f"<{text}>")
    assert shown == (f"<{tmp_path / 'results.csv'}> cannot be used as the results table: line <2> (run <cae-z8-s0>, "
                     "metric <generated_accuracy>): seed is '<[x](http://e.example)>', not a whole number of at least 0")
    assert str(exc) == shown.replace("<", "").replace(">", "")


def test_the_shipped_table_reads_as_before():
    table = read_table(SHIPPED_CHECKPOINTS / "results.csv")
    assert len(table) == len(SHIPPED_LINES) - 1 and table.attrs["notes"] == []
    assert {c: str(t) for c, t in table.dtypes.items() if t.kind == "f"} == {
        c: "float64" for c in ("latent_dim", "seed", "value", "spread", "n", "seconds")}
    assert table.loc[0, "n"] == 1000 and table.loc[0, "run"] == "cae-z8-s0"


# --- writing: checked before any work -----------------------------------------------------------------

def test_check_writable_tries_for_real(tmp_path, monkeypatch):
    check_writable(tmp_path / "new" / "deeper" / "results.csv")  # folders to be made later: fine
    assert list(tmp_path.iterdir()) == []  # and nothing is left behind, not even the folders
    (tmp_path / "afile").write_text("x")
    with pytest.raises(TableError, match=f"^cannot write the results table {tmp_path}/afile/results.csv: "
                                         f"{tmp_path}/afile is a file, not a folder$"):
        check_writable(tmp_path / "afile" / "results.csv")
    with pytest.raises(TableError, match="^cannot write the results table /proc/results.csv: no file can be created in /proc"):
        check_writable("/proc/results.csv")
    with pytest.raises(TableError, match="it is a folder"):
        check_writable(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.NamedTemporaryFile", refuse)
    with pytest.raises(TableError, match=r"no file can be created in .* \(permission denied\)$"):
        check_writable(tmp_path / "results.csv")


def test_add_rows_says_in_words_when_it_cannot_write(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(TableError, match="^cannot write the results table .*afile/results.csv: "):
        add_rows(tmp_path / "afile" / "results.csv", [{"run": "a", "metric": "fid_judge", "status": "ok", "value": 1.0}])


# --- scripts/evaluate.py refuses before it computes anything ------------------------------------------

@pytest.fixture
def nothing_computed(monkeypatch):
    """scripts.evaluate's main, with everything that would fetch data, load a run or compute a
    figure made to fail the test."""
    def never(*args, **kwargs):
        raise AssertionError("evaluate.py started working before refusing")

    for name in ("ensure_mnist", "make_evaluator", "run_rows", "load_run", "load_mnist"):
        monkeypatch.setattr(scripts.evaluate, name, never)
    return scripts.evaluate.main


@pytest.mark.parametrize("column, text, words", [
    ("seed", "x", "seed is 'x', not a whole number of at least 0"),
    ("n", "inf", "n is 'inf', not a whole number of at least 1"),
    ("metric", "fid_nope", "metric is 'fid_nope', not one this version knows"),
    ("status", "done", "status is 'done', not one of ok, n/a, unavailable"),
])
def test_evaluate_refuses_a_malformed_table_and_leaves_it_as_it_was(tmp_path, nothing_computed, capsys, column, text, words):
    path = table_with(tmp_path / "results.csv", column, text)
    before = path.read_bytes()
    assert nothing_computed(["--runs", "cae-z8-s0", "--metrics", "fid_judge", "--table", str(path)]) == 2
    err = capsys.readouterr().err
    where = FIRST.replace("generated_accuracy", text) if column == "metric" else FIRST
    assert err.startswith(f"error: {path} cannot be used as the results table: {where}{words}")
    assert err.rstrip().endswith("(move it away to start a new table)") and "Traceback" not in err
    assert path.read_bytes() == before
    assert nothing_computed(["--summary", "--table", str(path)]) == 2  # the summary too, in words
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("where, words", [
    (lambda tmp: tmp / "afile" / "results.csv", "afile is a file, not a folder"),
    (lambda tmp: Path("/proc/results.csv"), "no file can be created in /proc"),
])
def test_evaluate_refuses_an_unwritable_table_before_computing(tmp_path, nothing_computed, capsys, where, words):
    (tmp_path / "afile").write_text("x")
    table = where(tmp_path)
    assert nothing_computed(["--runs", "cae-z8-s0", "--metrics", "fid_judge", "--table", str(table)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the results table {table}: ") and words in err
    assert err.rstrip().endswith("give another --table, or --no-write")
    assert not table.exists()


def test_evaluate_refuses_an_unwritable_table_as_a_user_sees_it(tmp_path):
    """The real command, no stand-ins: exit code 2, words, no traceback, nothing computed."""
    import time

    from tests.test_evaluate import run_evaluate

    (tmp_path / "afile").write_text("x")
    start = time.perf_counter()
    result = run_evaluate("--runs", "cae-z8-s0", "--metrics", "reconstruction_bce", "--table", tmp_path / "afile" / "t.csv",
                          tmp_path=tmp_path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: cannot write the results table {tmp_path}/afile/t.csv: {tmp_path}/afile is a file" in result.stderr
    assert "reconstruction_bce =" not in result.stdout + result.stderr and "runs:" not in result.stderr
    assert time.perf_counter() - start < 90  # imports only, on a busy machine (the refusal comes before any loading)


def test_blank_rows_are_noted_and_left_out_when_evaluate_writes(tmp_path, monkeypatch, capsys):
    path = tmp_path / "results.csv"
    lines = table_with(path).read_text().splitlines()
    path.write_text("\n".join([lines[0], ",,,,,,,,,,,,,,,,", *lines[1:]]) + "\n")
    row = read_table(SHIPPED_CHECKPOINTS / "results.csv").iloc[-1].to_dict()
    monkeypatch.setattr(scripts.evaluate, "ensure_mnist", lambda *a, **k: None)
    monkeypatch.setattr(scripts.evaluate, "make_evaluator", lambda args, device: (None, 10))
    monkeypatch.setattr(scripts.evaluate, "run_rows", lambda *a, **k: ([row], True))
    assert scripts.evaluate.main(["--runs", "cae-z8-s0", "--table", str(path)]) == 0
    assert f"note: {path}: line 2 is blank and was skipped (left out when the table is written)" in capsys.readouterr().err
    written = read_table(path)
    assert len(written) == 13 and written.attrs["notes"] == [] and "\n,,,,,,,,,,,,,,,,\n" not in path.read_text()


def test_a_table_spoilt_during_an_evaluation_is_named_and_kept(tmp_path, monkeypatch, capsys):
    path = table_with(tmp_path / "results.csv")
    row = read_table(SHIPPED_CHECKPOINTS / "results.csv").iloc[-1].to_dict()

    def spoil_then_compute(*args, **kwargs):  # another hand edits the table while a run is scored
        table_with(path, "seed", "x")
        return [row], True

    monkeypatch.setattr(scripts.evaluate, "ensure_mnist", lambda *a, **k: None)
    monkeypatch.setattr(scripts.evaluate, "make_evaluator", lambda args, device: (None, 10))
    monkeypatch.setattr(scripts.evaluate, "run_rows", spoil_then_compute)
    spoilt = table_with(tmp_path / "spoilt.csv", "seed", "x").read_bytes()
    assert scripts.evaluate.main(["--runs", "cae-z8-s0", "--table", str(path)]) == 2
    err = capsys.readouterr().err
    assert "seed is 'x'" in err and err.rstrip().endswith("the figures computed since the last write were not saved")
    assert path.read_bytes() == spoilt


# --- the Leaderboard: one clear message, escaped, relative -----------------------------------------

def leaderboard() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("views/leaderboard.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    """A checkpoints folder inside a stand-in project folder (core.paths.REPO_ROOT), holding one run."""
    monkeypatch.setenv("DIGITLAB_DATA", str(core.paths.data_dir()))
    monkeypatch.setattr(core.paths, "REPO_ROOT", tmp_path)
    root = tmp_path / "checkpoints"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    return root


@pytest.mark.parametrize("column, text, words", [
    ("seed", "x", "seed is 'x', not a whole number of at least 0"),
    ("n", "inf", "n is 'inf', not a whole number of at least 1"),
    ("metric", "nope", "metric is 'nope', not one this version knows"),
])
def test_leaderboard_shows_one_clear_message_for_a_malformed_cell(checkpoints, tmp_path, column, text, words):
    table_with(checkpoints / "results.csv", column, text)
    at = leaderboard()
    assert len(at.error) == 1 and not at.dataframe
    message = at.error[0].value
    assert message.startswith("checkpoints\\/results\\.csv cannot be used as the results table: line 2 ")
    unescaped = message.replace("\\", "")
    assert words.replace("\\", "") in unescaped and str(tmp_path) not in unescaped


def test_leaderboard_escapes_the_cells_it_quotes(checkpoints, tmp_path):
    path = table_with(checkpoints / "results.csv", "run", "**bold** <b>x</b>")
    set_cell(path, 1, "seed", "[link](javascript:alert(1))")
    message = leaderboard().error[0].value
    assert "run \\*\\*bold\\*\\* \\<b\\>x\\<\\/b\\>, metric" in message
    assert "seed is '\\[link\\]\\(javascript\\:alert\\(1\\)\\)', not a whole number" in message
    assert "**bold**" not in message and "<b>" not in message and "](" not in message


def test_leaderboard_without_figures_or_with_blank_rows_says_so(checkpoints):
    path = checkpoints / "results.csv"
    path.write_text(SHIPPED_LINES[0] + "\n")
    at = leaderboard()
    assert not at.error and [i.value for i in at.info] == [
        "The results table holds no figures yet: compute them with `python scripts/evaluate.py`."]
    unavailable = [line for line in SHIPPED_LINES if ",unavailable," in line]
    path.write_text("\n".join([SHIPPED_LINES[0], *unavailable, ",,,,,,,,,,,,,,,,"]) + "\n")
    at = leaderboard()
    captions = [c.value for c in at.caption]
    assert not at.error and "No figure in the table yet (every row says *n/a* or *not computed*)." in captions
    assert f"checkpoints\\/results\\.csv\\: line {len(unavailable) + 2} is blank and was skipped" in captions
    assert not at.get("plotly_chart")


# --- MNIST's messages name files relative to the project -----------------------------------------------

def test_mnist_messages_name_files_relative_to_the_project(tmp_path, monkeypatch):
    monkeypatch.setattr(core.paths, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("DIGITLAB_DATA", raising=False)
    with pytest.raises(core.data.mnist.DataError) as info:
        core.data.mnist.verify_mnist()
    message = str(info.value)
    assert "  data/MNIST/raw/train-images-idx3-ubyte: missing" in message.splitlines()
    assert "into data/MNIST/raw (set $DIGITLAB_DATA" in message and str(tmp_path) not in message
    with pytest.raises(core.data.mnist.DataError, match="^data/MNIST/raw/t10k-labels-idx1-ubyte: missing$"):
        core.data.mnist.read_idx_array(core.data.mnist.raw_dir() / "t10k-labels-idx1-ubyte")


def test_missing_mnist_in_the_browser_names_no_server_path(tmp_path, monkeypatch):
    monkeypatch.setattr(core.paths, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("DIGITLAB_DATA", raising=False)

    def offline(root, log):
        raise PermissionError(13, "Permission denied", str(Path(root).resolve() / "MNIST"))

    monkeypatch.setattr(core.data.mnist, "_fetch_with_torchvision", offline)
    monkeypatch.setattr(core.data.mnist, "_fetch_from_pypi", offline)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert len(at.error) == 1
    message = at.error[0].value
    assert str(tmp_path) not in message.replace("\\", "")
    lines = message.split("  \n")
    assert lines[0] == "MNIST files failed verification\\:"
    assert "data\\/MNIST\\/raw\\/train\\-images\\-idx3\\-ubyte\\: missing" in lines
    assert any(line.startswith("offline\\: PermissionError\\: \\[Errno 13\\] Permission denied\\: "
                               "\\'data\\/MNIST\\'") for line in lines), lines


# --- no traceback in the browser -----------------------------------------------------------------------

def test_uncaught_errors_show_no_details_in_the_browser(monkeypatch):
    """.streamlit/config.toml sets client.showErrorDetails to "none": an uncaught error shows
    Streamlit's generic sentence, without its type, message, traceback or any server path."""
    import tomllib

    from streamlit import config

    settings = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["client"]["showErrorDetails"] == "none"
    monkeypatch.chdir(REPO_ROOT)  # where `streamlit run` and the tests read the config from
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("client.showErrorDetails") == "none"
        at = AppTest.from_string("raise ValueError('/srv/digitlab/secret.csv is broken')").run()
        shown = at.exception[0]
        assert "/srv/digitlab" not in shown.message and "ValueError" not in shown.message
        assert list(shown.stack_trace) == [] and "redacted" in shown.message
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)
