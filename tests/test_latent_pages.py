"""The latent pages (issue 22, points 3, 5, 6): Restyle and the 2-D latent plane never open empty,
the Latent space page's linked selection and live-UMAP progress, shipped projections of every size
on the page, and the β-VAE page's scatters (legend, axis titles, no warnings). AppTest, shipped
checkpoints."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.test_dashboard import inline_images, open_page

#: MNIST present and a cache folder of each test's own (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("dashboard_ready")


# --- 1. pages that never open empty --------------------------------------------------------------------

def test_restyle_opens_with_images_for_the_default_runs():
    at = open_page("restyle")  # cae-z32-s0 and cvae-z32-s0: neither decoder takes the digit
    assert at.sidebar.multiselect[0].value == ["cae-z32-s0", "cvae-z32-s0"]
    notes = [i.value for i in at.info if "shown here with" in i.value]
    assert len(notes) == 1 and "can restyle" in notes[0], [i.value for i in at.info]
    assert inline_images(at) == 1  # the shipped run's rows: source, then 0-9
    assert any(c.value.startswith("Each row: the source image") for c in at.caption)
    why = [c.value for c in at.caption if c.value.startswith("Cannot restyle with")]
    assert len(why) == 2 and all("decoder takes no digit" in w for w in why)
    add = [b for b in at.button if b.key and b.key.startswith("restyle_add_")]
    assert len(add) == 1
    add[0].click().run()
    assert not at.exception
    added = add[0].key.removeprefix("restyle_add_")
    assert at.sidebar.multiselect[0].value == ["cae-z32-s0", "cvae-z32-s0", added]
    assert not [i.value for i in at.info if "shown here with" in i.value]  # now one of the chosen runs
    assert inline_images(at) == 1


def test_latent_plane_opens_with_images_for_the_default_runs():
    at = open_page("latent_plane")
    notes = [i.value for i in at.info if "shown here with" in i.value]
    assert len(notes) == 1 and "2-D latent" in notes[0]
    assert inline_images(at) == 1  # the decoded grid (the plane itself is a browser component)
    assert any(c.value.startswith("Decoded grid: z1 from") for c in at.caption)
    assert any(b.key == "plane_add_conv-vae-z2-s0" for b in at.button)


# --- 2. UMAP: shipped for every size the page offers, else computed with a progress bar ----------------

def test_the_latent_space_page_offers_the_sizes_that_are_shipped():
    """Every encoding shipped run carries a projection of every size and encoder input the page offers
    (scripts/project.py), for its current weights; the checkpoints stay small."""
    from core.explore.projections import read_shipped, shipped_key
    from core.models.capabilities import ENCODE, encoder_input
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.catalog import is_judge, list_runs
    from scripts.project import PAGE_MODES, PAGE_SIZES

    at = open_page("latent_space")
    assert [int(o) for o in at.select_slider(key="lat_n").options] == list(PAGE_SIZES)
    runs, _ = list_runs(SHIPPED_CHECKPOINTS)
    encoders = [r for r in runs.values() if not is_judge(r) and r.can(ENCODE) and r.input_modes]
    assert len(encoders) >= 10
    for run in encoders:
        for mode in {m if m in run.input_modes else encoder_input(run) for m in PAGE_MODES}:
            for n in PAGE_SIZES:
                methods = ("CODES",) if run.latent_dim <= 2 else ("PCA", "UMAP")
                for method in methods:
                    xy = read_shipped(run.path, shipped_key(method, mode, n))
                    assert xy is not None and xy.shape == (n, 2) and np.isfinite(xy).all(), (run.name, mode, n, method)
    total = sum(p.stat().st_size for p in SHIPPED_CHECKPOINTS.rglob("*") if p.is_file())
    assert total < 60e6, total


def test_a_run_without_shipped_projections_is_projected_here(tmp_path, monkeypatch):
    import shutil

    from core.paths import SHIPPED_CHECKPOINTS

    root = tmp_path / "runs"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0", ignore=shutil.ignore_patterns("projections.npz"))
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page("latent_space", runs=["cae-z8-s0"])
    sources = [c.value for c in at.caption if c.value.startswith("2,000 test codes")]
    assert sources == ["2,000 test codes (PCA of these codes)."]
    assert not at.get("progress")


def test_umap_clock_learns_the_time_per_code_after_the_compile():
    from core.explore.projections import UMAP_FIRST_USE_SECONDS, UMAP_SECONDS, UmapClock

    clock = UmapClock()
    first = clock.estimate(10_000)
    assert first == pytest.approx(UMAP_SECONDS[0] + UMAP_SECONDS[1] * 10_000 + UMAP_FIRST_USE_SECONDS)
    assert clock.estimate(10_000, compiled=True) == pytest.approx(first - UMAP_FIRST_USE_SECONDS)
    clock.record(10_000, 50.0)  # the first one compiled: it says nothing of the time per code
    assert clock.compiled and clock.estimate(10_000) == pytest.approx(first - UMAP_FIRST_USE_SECONDS)
    clock.record(2_000, 4.0)  # 2 ms a code
    assert clock.estimate(10_000) == pytest.approx(20.0) and clock.estimate(1_000) == pytest.approx(2.0)


def test_live_progress_counts_finished_runs_and_the_seconds_left():
    from core.explore.projections import live_progress

    assert live_progress(1, 4, 0.0, 20.0, 60.0) == (0.0, 80.0)
    done, left = live_progress(2, 4, 10.0, 20.0, 40.0)  # run 2 of 4, half way: 10 s for it, 40 s after
    assert done == pytest.approx(1.5 / 4) and left == pytest.approx(50.0)
    done, left = live_progress(4, 4, 100.0, 20.0, 0.0)  # running over its estimate: never done, never 0 s
    assert done == pytest.approx(3.95 / 4) and left == 1.0
    with pytest.raises(ValueError):
        live_progress(5, 4, 0.0, 20.0, 0.0)


@pytest.mark.slow
def test_a_live_umap_shows_which_run_of_how_many_and_the_seconds_left(tmp_path, monkeypatch):
    """Runs without shipped projections are projected here: one progress bar says which run of how
    many is projected and about how many seconds are left, and goes when they are done."""
    import shutil

    from streamlit.delta_generator import DeltaGenerator

    from core.explore.projections import UMAP_CLOCK
    from core.paths import SHIPPED_CHECKPOINTS

    root = tmp_path / "runs"
    for name in ("cae-z8-s0", "cvae-z8-s0", "judge-s0"):
        shutil.copytree(SHIPPED_CHECKPOINTS / name, root / name, ignore=shutil.ignore_patterns("projections.npz"))
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    texts = []
    progress = DeltaGenerator.progress
    monkeypatch.setattr(DeltaGenerator, "progress",
                        lambda self, value, text=None: (texts.append((value, text)), progress(self, value, text))[1])
    at = open_page("latent_space", runs=["cae-z8-s0", "cvae-z8-s0"])
    at.select_slider(key="lat_n").set_value(1000)
    at.radio(key="lat_method").set_value("UMAP").run()
    assert not at.exception
    sources = [c.value for c in at.caption if c.value.startswith("1,000 test codes")]
    assert len(sources) == 2 and all("UMAP computed here" in s for s in sources), sources
    assert not at.get("progress")  # gone once both are drawn
    shown = [t for _, t in texts if t]
    assert any("run 1 of 2" in t for t in shown) and any("run 2 of 2" in t for t in shown), shown
    assert all(t.startswith("UMAP of 1,000 codes, run ") and " s left" in t for t in shown)
    assert all(0 <= v < 1 for v, _ in texts) and UMAP_CLOCK.compiled
    texts.clear()
    at.radio(key="lat_method").set_value("PCA").run()
    at.radio(key="lat_method").set_value("UMAP").run()  # computed once for this server
    assert not texts and len([c for c in at.caption if "UMAP computed here" in c.value]) == 2


# --- 3. linked selection --------------------------------------------------------------------------------

def scatter_data(at) -> dict:
    """``{component key: the data it was sent}`` of the page's latent scatters."""
    import json

    out = {}
    for element in at.get("bidi_component"):
        data = json.loads(element.proto.json)
        out[data["key"]] = data
    return out


def test_a_selection_is_one_set_of_test_images_highlighted_in_every_run():
    from dashboard.common import seeded_indices

    at = open_page("latent_space")
    assert all(d["selected"] == [] for d in scatter_data(at).values())
    subset = seeded_indices(10_000, 2000, 0)
    picked = subset[[3, 10, 11, 500]].tolist()
    at.session_state["lat_selection"] = {"ids": picked + [int(np.setdiff1d(np.arange(10_000), subset)[0])],
                                         "source": "cvae-z32-s0"}
    at.run()
    assert not at.exception
    data = scatter_data(at)
    assert set(data) == {"lat_cae-z32-s0_PCA_image+digit_2000", "lat_cvae-z32-s0_PCA_image+digit_2000"}
    assert all(d["selected"] == [3, 10, 11, 500] for d in data.values())  # by test index, in each run's points
    notes = [c.value for c in at.caption if c.value.startswith("Highlighted:")]
    assert len(notes) == 1 and "the 4 test images selected on CVAE" in notes[0]  # on the other run only
    listing = [m.value for m in at.markdown if m.value.startswith("Selected ")]
    assert len(listing) == 1 and listing[0].startswith("Selected 4 of 2,000 points") and 'class="dl-img"' in listing[0]
    assert any(c.value.startswith("Test indices (digit): ") and f"{picked[0]} (" in c.value for c in at.caption)
    at.select_slider(key="lat_n").set_value(5000).run()  # other points: the same test images where present
    subset5 = seeded_indices(10_000, 5000, 0)
    want = np.flatnonzero(np.isin(subset5, picked)).tolist()
    assert all(d["selected"] == want for d in scatter_data(at).values())
    at.session_state["lat_selection"] = None
    at.run()
    assert all(d["selected"] == [] for d in scatter_data(at).values())
    assert not [m for m in at.markdown if m.value.startswith("Selected ")]


def test_scatter_refuses_a_selection_it_cannot_show():
    from dashboard.components.latent_scatter import scatter_payload

    xy, labels = np.zeros((5, 2)), np.arange(5)
    assert scatter_payload(xy, labels, selected=[4, 1, 1])["selected"] == [1, 4]
    assert scatter_payload(xy, labels)["selected"] is None
    for bad in ([5], [-1], [[1, 2]], [0.5]):
        with pytest.raises(ValueError, match="selected must be"):
            scatter_payload(xy, labels, selected=bad)
    with pytest.raises(ValueError, match="only for drag='select'"):
        scatter_payload(xy, labels, selected=[1], drag="probe")
    assert scatter_payload(xy, labels, ids=np.arange(5) + 100, link="page")["link"] == "page"
    for kwargs in ({"link": "page"}, {"link": "", "ids": np.arange(5)}, {"link": "page", "ids": np.arange(5), "drag": "probe"}):
        with pytest.raises(ValueError, match="link must be"):
            scatter_payload(xy, labels, **kwargs)


# --- 4. the β-VAE page ----------------------------------------------------------------------------------

def test_the_vae_study_page_raises_no_warning_and_its_scatters_fit():
    """The cross-validation table raised pandas' FutureWarning (a str set into an int column); the
    latent scatters' legends scrolled (a column of 10 digits beside 300 px) and had no axis titles."""
    import json

    from streamlit.testing.v1 import AppTest

    from tests.test_dashboard import APP

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("views/vae_study.py")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    scatters = [spec for spec in charts.values() if any(t["type"] == "scattergl" for t in spec["data"])]
    assert len(scatters) == 2  # the β sweep and the remedies
    tradeoff = next(s for s in charts.values() if s["layout"]["legend"].get("title", {}).get("text") == "× = collapsed")
    for spec in scatters + [tradeoff]:
        layout = spec["layout"]
        assert layout["legend"]["orientation"] == "h" and layout["legend"]["y"] < 0  # one row, under the plot
        axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(layout[k]["title"]["text"] for k in axes), axes
    cv = next(d.value for d in at.dataframe if "held out" in d.value.columns)
    assert cv["fold"].tolist()[-1] == "mean ± std"
