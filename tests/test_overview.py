"""The Overview's tables and the run links of the address bar (AppTest, shipped checkpoints)."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.models import REGISTRY
from core.models.capabilities import MODEL

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
    for cls in REGISTRY.values():
        if cls.role == MODEL:
            assert cls.summary, f"{cls.__name__} has no summary"
            assert shown.get(cls.display_name), f"{cls.display_name} missing from {sorted(shown)}"
