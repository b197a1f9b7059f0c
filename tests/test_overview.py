"""The Overview's tables and the run links of the address bar (AppTest, shipped checkpoints)."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.models import REGISTRY
from core.models.capabilities import MODEL
from core.runs.catalog import list_runs

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def _html(at: AppTest) -> str:
    return "\n".join(str(element.proto.body) for element in at.get("html"))


def test_run_names_in_a_link_match_whatever_their_case(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["runs"] = "CVAE-Z32-S0,Cae-z8-s0,nope"
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect[0].value == ["cvae-z32-s0", "cae-z8-s0"]
    warnings = [w.value for w in at.sidebar.warning]
    assert any("nope" in w for w in warnings) and not any("CVAE" in w for w in warnings), warnings


def test_the_models_table_lists_every_compared_model_with_its_own_summary(monkeypatch, tmp_path):
    """The diffusion reference was missing from a hand-written table: the rows now come from the runs' cards."""
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    table = re.search(r'<table[^>]*data-testid="models-table".*?</table>', _html(at), re.S)
    assert table, "no models table on the Overview"
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table.group(0))
    shown = {name: summary for name, _, summary in rows}
    shipped = {info.config["model"] for info in list_runs()[0].values()}  # a registered model not yet trained has no row
    for cls in REGISTRY.values():
        if cls.role == MODEL:
            assert cls.summary, f"{cls.__name__} has no summary"
            if cls.name in shipped:
                assert shown.get(cls.display_name), f"{cls.display_name} missing from {sorted(shown)}"
    assert len(shown) == len({REGISTRY[m].display_name for m in shipped if REGISTRY[m].role == MODEL})


def _open(page: str, runs: str, monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["runs"] = runs
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_reconstructions_show_no_empty_column_and_name_the_runs_left_out_once(monkeypatch, tmp_path):
    at = _open("reconstructions", "cvae-z32-s0,cgan-z100-s0,diffusion-z784-s0", monkeypatch, tmp_path)
    titles = [m.value for m in at.main.markdown if m.value.startswith("**")]
    assert titles == ["**CVAE \\(z\\=32\\) · seed 0**"], titles  # a column for the run that reconstructs only
    left = [c.value for c in at.caption if c.value.startswith("Not shown here")]
    assert len(left) == 1 and "cGAN" in left[0] and "Diffusion" in left[0] and "cannot reconstruct" in left[0], left


def test_a_view_no_chosen_run_can_serve_opens_with_a_shipped_run_that_can(monkeypatch, tmp_path):
    at = _open("reconstructions", "cgan-z100-s0,diffusion-z784-s0", monkeypatch, tmp_path)
    assert any("None of the chosen runs can reconstruct" in i.value for i in at.info), [i.value for i in at.info]
    assert "<img" in "".join(m.value for m in at.main.markdown)  # the stand-in run's reconstructions are drawn
    add = next(b for b in at.button if b.label.startswith("Add ") and b.label.endswith(" to the comparison"))
    add.click().run()
    assert len(at.sidebar.multiselect[0].value) == 3


def test_latent_space_names_the_runs_without_an_encoder_once_instead_of_empty_columns(monkeypatch, tmp_path):
    at = _open("latent_space", "cvae-z32-s0,cgan-z100-s0,diffusion-z784-s0", monkeypatch, tmp_path)
    titles = [m.value for m in at.main.markdown if m.value.startswith("**")]
    assert titles == ["**CVAE \\(z\\=32\\) · seed 0**"], titles
    left = [c.value for c in at.caption if c.value.startswith("Not shown here")]
    assert len(left) == 1 and "cGAN" in left[0] and "Diffusion" in left[0] and "cannot encode images" in left[0], left
