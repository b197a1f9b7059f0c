"""README.md is the project's front door and says what is true: its results table is the one
``scripts/evaluate.py --summary`` makes from the shipped ``checkpoints/results.csv``, its layout names
every folder there is (and none that is not), its links lead somewhere, and ``.ci/run`` finds its
test command."""

from __future__ import annotations

import difflib
import fnmatch
import re
import subprocess

import pytest

from core.evaluation.table import read_table, write_table
from core.paths import REPO_ROOT, SHIPPED_CHECKPOINTS
from scripts import evaluate
from scripts._readme import README, ReadmeError, read_block, replace_block

RESULTS = SHIPPED_CHECKPOINTS / "results.csv"
DOCS = REPO_ROOT / "docs"


def results_table_problem(table_text: str, readme_text: str) -> str | None:
    """None when README's results block is ``table_text``; else the differing lines, in words."""
    shown = read_block(readme_text, evaluate.RESULTS_BLOCK)
    if shown == table_text:
        return None
    diff = "\n".join(difflib.unified_diff(shown.splitlines(), table_text.splitlines(), "README.md", "results.csv",
                                          lineterm="", n=0))
    return ("README.md's results table is not the one checkpoints/results.csv gives; "
            "rewrite it with: python scripts/evaluate.py --summary --readme\n" + diff)


def section(text: str, heading: str) -> str:
    """The text under the Markdown heading ``## heading``, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def ignored_names() -> list[str]:
    """The .gitignore patterns that name folders (``data/``, ``runs/``, ``*.egg-info/`` ...), without slashes."""
    lines = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]


def project_folders() -> list[str]:
    """The repository's top-level folders (not hidden, not git-ignored) and core's subpackages, as
    ``name/`` and ``core/name/``."""
    ignored = ignored_names()

    def shown(path) -> bool:
        return path.is_dir() and not path.name.startswith((".", "__"))

    top = [f"{p.name}/" for p in sorted(REPO_ROOT.iterdir())
           if shown(p) and not any(fnmatch.fnmatch(p.name, pattern) for pattern in ignored)]
    core = [f"core/{p.name}/" for p in sorted((REPO_ROOT / "core").iterdir()) if shown(p) and any(p.glob("*.py"))]
    return top + core


def layout_problems(readme_text: str, folders: list[str]) -> list[str]:
    """What README's layout table gets wrong about ``folders``: a folder it does not name, a row for
    a folder that does not exist."""
    rows = re.findall(r"^\| `([^`]+/)` \|", section(readme_text, "Layout"), flags=re.M)
    missing = [f"{folder} has no row in README's layout" for folder in folders if folder not in rows]
    stale = [f"README's layout names {row}, which does not exist" for row in rows if not (REPO_ROOT / row).is_dir()]
    return missing + stale


# --- the results table ----------------------------------------------------------------------------

def test_the_readme_results_table_is_the_one_the_shipped_results_give():
    problem = results_table_problem(evaluate.summary_markdown(read_table(RESULTS)), README.read_text(encoding="utf-8"))
    assert problem is None, problem


def test_a_changed_figure_or_cell_is_caught(tmp_path):
    """One figure changed in results.csv, or one cell edited in README, and the two differ."""
    readme = README.read_text(encoding="utf-8")
    table = read_table(RESULTS)
    assert results_table_problem(evaluate.summary_markdown(table), readme) is None
    row = (table["run"] == "cae-z8-s0") & (table["metric"] == "reconstruction_bce")
    assert row.sum() == 1
    changed = table.copy()
    changed.loc[row, "value"] += 3.0  # moves CAE z=8's mean BCE by 1 nat
    write_table(changed, tmp_path / "results.csv")
    problem = results_table_problem(evaluate.summary_markdown(read_table(tmp_path / "results.csv")), readme)
    assert problem and "| CAE | 8 | 0,1,2 |" in problem and "evaluate.py --summary --readme" in problem
    shown = read_block(readme, evaluate.RESULTS_BLOCK)
    edited = replace_block(readme, evaluate.RESULTS_BLOCK, shown.replace("0.9625 ± 0.0015", "0.9626 ± 0.0015", 1))
    assert edited != readme and results_table_problem(evaluate.summary_markdown(table), edited)


def _readme_like(block: str) -> str:
    return ("# Title\n\nText before, with a <!-- comment --> and trailing spaces  \n\n"
            f"<!-- results:start -->\n{block}\n<!-- results:end -->\n\nText after.\n")


def test_summary_readme_rewrites_only_the_results_block(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(_readme_like("| an old | table |\n|---|---|"), encoding="utf-8")
    before, after = readme.read_text().split("<!-- results:start -->")[0], readme.read_text().split("<!-- results:end -->")[1]
    assert evaluate.main(["--summary", "--readme", str(readme), "--table", str(RESULTS)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(before + "<!-- results:start -->\n") and text.endswith("<!-- results:end -->" + after)
    assert read_block(text, "results") == evaluate.summary_markdown(read_table(RESULTS))
    assert "results table rewritten" in capsys.readouterr().out
    # a second time: nothing to change, the file is left alone
    stamp = readme.stat().st_mtime_ns
    assert evaluate.main(["--readme", str(readme), "--table", str(RESULTS)]) == 0  # --readme implies --summary
    assert readme.stat().st_mtime_ns == stamp and "already up to date" in capsys.readouterr().out


@pytest.mark.parametrize("text, words", [
    ("# No markers here\n", "has no <!-- results:start --> line"),
    (_readme_like("x") + "<!-- results:end -->\n", "has 2 <!-- results:end --> lines"),
    ("<!-- results:end -->\nx\n<!-- results:start -->\n", "<!-- results:end --> comes before <!-- results:start -->"),
])
def test_summary_readme_refuses_a_file_without_one_pair_of_markers(tmp_path, capsys, text, words):
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    assert evaluate.main(["--summary", "--readme", str(readme), "--table", str(RESULTS)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert readme.read_text(encoding="utf-8") == text  # nothing lost


def test_summary_readme_names_a_missing_file(tmp_path, capsys):
    assert evaluate.main(["--readme", str(tmp_path / "nope.md"), "--table", str(RESULTS)]) == 2
    assert "no file" in capsys.readouterr().err and not (tmp_path / "nope.md").exists()


def test_read_block_raises_in_words():
    with pytest.raises(ReadmeError, match="needs exactly one <!-- x:start -->"):
        read_block("text", "x")


# --- layout, links, CI ----------------------------------------------------------------------------

def test_the_layout_names_every_folder_and_core_subpackage():
    folders = project_folders()
    assert {"core/", "dashboard/", "scripts/", "tests/", "docs/", "core/data/", "core/runs/", "core/models/"} <= set(folders)
    assert layout_problems(README.read_text(encoding="utf-8"), folders) == []


def test_the_layout_check_catches_a_missing_or_stale_row():
    readme = README.read_text(encoding="utf-8")
    without = re.sub(r"^\| `core/explore/` \|.*\n", "", readme, flags=re.M)
    assert layout_problems(without, project_folders()) == ["core/explore/ has no row in README's layout"]
    stale = readme.replace("| `docs/` |", "| `gone/` | a folder that was removed |\n| `docs/` |")
    assert layout_problems(stale, project_folders()) == ["README's layout names gone/, which does not exist"]


def test_every_relative_link_of_readme_and_docs_leads_to_a_file_and_every_doc_is_linked():
    pages = [README, *sorted(DOCS.glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO_ROOT)} links to {target}, which does not exist")
    assert broken == []
    readme = README.read_text(encoding="utf-8")
    assert [p.name for p in DOCS.glob("*.md") if f"(docs/{p.name})" not in readme] == []


def test_ci_finds_the_test_command_in_the_readme():
    """.ci/run reads the command between README's test-command markers with awk: run that line."""
    line = next(text for text in (REPO_ROOT / ".ci" / "run").read_text().splitlines() if text.startswith("cmd=$(awk"))
    result = subprocess.run(["bash", "-c", f'{line}\nprintf "%s" "$cmd"'], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "bash scripts/setup.sh --test && .venv/bin/python -m pytest"
