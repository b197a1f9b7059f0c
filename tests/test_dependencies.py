"""What the dashboard needs is what ``requirements.txt`` installs: Ray is optional (pyproject's
``cluster`` extra, requirements-dev.txt for the tests), nothing lists a package nobody imports, and
the commands that use Ray say how to install it when it is missing."""

from __future__ import annotations

import re
import sys
import tomllib

import pytest

from core.paths import REPO_ROOT
from tests.test_architecture import imports_of, module_name


def requirement_names(path) -> set[str]:
    """Package names listed in a requirements file (extras and versions left off; ``-r`` lines skipped)."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~! ;]", line, maxsplit=1)[0].lower())
    return names


def reachable_modules(roots: list[str]) -> dict[str, set[str]]:
    """{project module: everything it imports} for ``roots`` and every project module they import,
    at module level or inside functions (read with ``ast``, nothing is run)."""
    files = {module_name(p): p for folder in ("core", "dashboard", "scripts")
             for p in (REPO_ROOT / folder).rglob("*.py")}
    seen: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in files:
            continue
        seen[name] = imports_of(files[name])
        todo += [m for m in seen[name] if m in files]
    return seen


def ray_importers(modules: dict[str, set[str]]) -> list[str]:
    return sorted(name for name, imported in modules.items() if any(m.split(".")[0] == "ray" for m in imported))


def test_the_dashboard_reaches_ray_only_through_the_cluster_module():
    """The Train page's trainings reach core.training.cluster (the sweep's code path), which imports Ray
    inside the functions that need a cluster only; nothing else the dashboard imports touches Ray."""
    dashboard = [module_name(p) for p in sorted((REPO_ROOT / "dashboard").rglob("*.py"))]
    modules = reachable_modules(dashboard)
    assert "core.runs.catalog" in modules and "dashboard.views.leaderboard" in modules  # the walk reaches core
    assert ray_importers(modules) == ["core.training.cluster"]
    import ast

    tree = ast.parse((REPO_ROOT / "core" / "training" / "cluster.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n for n in top if any(a.name.split(".")[0] == "ray" for a in getattr(n, "names", []))
                or (getattr(n, "module", "") or "").split(".")[0] == "ray"]


def test_a_training_manager_works_without_ray(tmp_path, monkeypatch):
    from core.training.jobs import TrainingManager, WarmLauncher

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if Ray were not installed
    monkeypatch.delenv("DIGITLAB_RAY_ADDRESS", raising=False)
    assert isinstance(TrainingManager(tmp_path).launcher, WarmLauncher)


def test_the_walk_finds_an_import_of_ray():
    """The check above can fail: the sweep script reaches Ray (inside functions, as allowed there)."""
    assert {"scripts._ray", "scripts.sweep"} <= set(ray_importers(reachable_modules(["scripts.sweep"])))


def test_requirements_leave_ray_to_the_cluster_extra_and_list_no_unused_canvas():
    runtime = requirement_names(REPO_ROOT / "requirements.txt")
    assert "ray" not in runtime and "streamlit-drawable-canvas" not in runtime
    assert "ray" in requirement_names(REPO_ROOT / "requirements-dev.txt")  # the sweep tests run Ray
    assert "ruff" in requirement_names(REPO_ROOT / "requirements-dev.txt")  # .ci/run lints
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(spec.startswith("ray[") and "tune" in spec for spec in project["optional-dependencies"]["cluster"])
    imported = {m.split(".")[0] for folder in ("core", "dashboard", "scripts", "benchmarks", "tests")
                for p in (REPO_ROOT / folder).rglob("*.py") for m in imports_of(p)}
    assert "streamlit_drawable_canvas" not in imported


def test_sweep_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    from scripts import sweep

    experiment = tmp_path / "no-ray.toml"
    experiment.write_text('name = "no-ray-check"\nseeds = [0]\n[[runs]]\nmodel = "cae"\nmodel_args = { latent_dim = 2 }\n')
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if Ray were not installed
    assert sweep.main([str(experiment)]) == 2
    err = capsys.readouterr().err
    assert "Ray is not installed" in err and "pip install -e '.[cluster]'" in err and "Traceback" not in err
    assert not (REPO_ROOT / "runs" / "no-ray-check").exists()  # nothing started


def test_import_ray_says_how_to_install_it(monkeypatch):
    from scripts._ray import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"Ray is not installed: .* Install it with: .*\[cluster\]"):
        import_ray()


def test_evaluate_on_ray_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys, mnist_root):
    from scripts import evaluate

    monkeypatch.setitem(sys.modules, "ray", None)
    table = tmp_path / "results.csv"
    assert evaluate.main(["--address", "local", "--runs", "cae-z8-s0", "--table", str(table),
                          "--data-dir", str(mnist_root)]) == 2
    err = capsys.readouterr().err
    assert "Ray is not installed" in err and "pip install -e '.[cluster]'" in err
    assert not table.exists()
