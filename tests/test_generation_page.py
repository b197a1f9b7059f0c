"""The Generation grids page: a generation mode per run (each its own default, no note about other runs'
modes), slow grids drawn beside the fast ones when ready (a preview first), and the on-demand scores."""

from __future__ import annotations

import re

import pytest

from core.models.diffusion import DDIM_MODES, PREVIEW_STEPS
from dashboard import background
from tests.test_dashboard import inline_images, open_page

THREE = ["cvae-z32-s0", "cgan-z100-s0", "diffusion-z784-s0"]


#: MNIST present and a cache folder of each test's own (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("dashboard_ready")


def settled(at):
    """The page run again once every background grid is made (all drawn)."""
    assert background.settle(300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_each_run_generates_in_its_own_default_mode_with_no_note_about_the_others():
    at = settled(open_page("generation"))  # the default runs: the CAE and the CVAE
    assert at.selectbox(key="gen_mode_cae-z32-s0").value == "density"
    assert at.selectbox(key="gen_mode_cvae-z32-s0").value == "posterior"
    assert at.selectbox(key="gen_mode_cae-z32-s0").options == ["Density", "Deterministic", "GMM (BIC)",
                                                               "Second-stage VAE"]
    from core.models.seed000 import DENSITY, DETERMINISTIC, POSTERIOR

    modes = [c for c in captions(at) if c.startswith("Mode ")]
    assert modes == [f"Mode density: {DENSITY.help()}. Rows: digits 0 (top) to 9; columns: samples.",
                     f"Mode posterior: {POSTERIOR.help()}. Rows: digits 0 (top) to 9; columns: samples."]
    assert inline_images(at) == 2 * 2  # a grid and a real-versus-generated pair of rows per run
    # the CVAE's own mode for the CVAE only: the CAE keeps its own, nobody says "cannot"
    at.selectbox(key="gen_mode_cvae-z32-s0").set_value("deterministic")
    at.number_input(key="gen_seed").set_value(7).run()
    settled(at)
    assert at.selectbox(key="gen_mode_cae-z32-s0").value == "density"
    assert [c for c in captions(at) if c.startswith("Mode ")] == [
        f"Mode density: {DENSITY.help()}. Rows: digits 0 (top) to 9; columns: samples.",
        f"Mode deterministic: {DETERMINISTIC.help()}. Rows: digits 0 (top) to 9; columns: samples."]
    assert inline_images(at) == 4 and not any("cannot" in c for c in captions(at))


def test_a_mode_only_the_diffusion_model_has_prints_no_note_for_the_others_and_no_note_repeats():
    at = open_page("generation", runs=THREE)
    at.slider(key="gen_per_digit").set_value(1).run()  # 10 images: quick at 50 steps too
    assert at.selectbox(key="gen_mode_diffusion-z784-s0").options == [str(m) for m in DDIM_MODES]  # its own, default first
    assert at.selectbox(key="gen_mode_cgan-z100-s0").value == "noise"
    at.selectbox(key="gen_mode_diffusion-z784-s0").set_value("DDIM 50 steps").run()
    settled(at)
    shown = captions(at)
    assert not any("cannot" in c for c in shown), shown
    notes = [c for c in shown if not c.startswith("The judge reads")]  # figures may coincide
    assert len(notes) == len(set(notes)), notes  # no sentence twice
    assert [c.split(":")[0] for c in shown if c.startswith("Mode ")] == ["Mode posterior", "Mode noise",
                                                                       "Mode DDIM 50 steps"]
    judged = [c for c in shown if c.startswith("The judge reads")]
    assert len(judged) == 3 and all("of these 10 images" in j for j in judged)
    assert inline_images(at) == 3 * 2
    # the real-versus-generated rows name each run's mode
    assert [m.value for m in at.markdown if " · mode " in m.value] == [
        "**CVAE \\(z\\=32\\) · seed 0** · mode posterior", "**cGAN \\(z\\=100\\) · seed 0** · mode noise",
        "**Diffusion \\(16 channels\\, w\\=2\\) · seed 0** · mode DDIM 50 steps"]


@pytest.mark.slow
def test_the_scores_follow_each_runs_mode():
    at = settled(open_page("generation", runs=["cae-z32-s0", "conv-vae-z2-s0"]))
    at.selectbox(key="gen_mode_cae-z32-s0").set_value("deterministic").run()
    assert not at.dataframe  # nothing is computed before the button
    at.select_slider(key="score_per_digit").set_value(100).run()
    at.button(key="score_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    scores = at.dataframe[0].value
    assert list(scores["mode"]) == ["deterministic", "density"]  # each run in its own mode
    assert scores["Generated Images Accuracy"][0] == 1.0
    at.selectbox(key="gen_mode_conv-vae-z2-s0").set_value("GMM (BIC)").run()  # a new request waits for the button
    assert not at.dataframe


# ------------------------------------------------------------------------------------------------
# in a real browser
# ------------------------------------------------------------------------------------------------

def grid(label: str, what: str = "grid") -> str:
    return f'img.dl-img[alt="{label}: {what}"]'


@pytest.fixture(scope="module")
def browser_page():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, FrameLog, chromium_path, running_app

    with running_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.frames_seen = FrameLog(page)
        page.base_url = url
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.mark.browser
def test_browser_fast_grids_come_first_then_the_diffusion_preview_then_its_grid_by_themselves(browser_page):
    page = browser_page
    page.goto(page.base_url + "/generation?runs=" + ",".join(THREE), wait_until="domcontentloaded")
    page.locator(grid("CVAE (z=32) · seed 0")).wait_for(timeout=120_000)
    page.locator(grid("cGAN (z=100) · seed 0")).wait_for(timeout=30_000)
    diffusion = "Diffusion (16 channels, w=2) · seed 0"
    assert not page.locator(grid(diffusion)).count(), "the diffusion grid was drawn with the fast ones"
    page.locator(grid(diffusion, "preview grid")).wait_for(timeout=60_000)  # no user action from here on
    note = page.get_by_text(re.compile(f"Preview in mode DDIM {PREVIEW_STEPS} steps")).first
    assert "the grid in mode DDIM 20 steps replaces it when it is ready" in note.inner_text()
    page.locator(grid(diffusion)).wait_for(timeout=120_000)
    assert not page.locator(grid(diffusion, "preview grid")).count()
    page.locator(grid(diffusion, "real and generated")).wait_for(timeout=30_000)


@pytest.mark.browser
def test_browser_the_score_button_draws_its_table(browser_page):
    from tests.browser import app_idle

    page = browser_page
    page.goto(page.base_url + "/generation?runs=cvae-z32-s0", wait_until="domcontentloaded")
    page.locator(grid("CVAE (z=32) · seed 0")).wait_for(timeout=120_000)
    thumb = page.locator('input[type="range"][aria-label="Images per digit for FID and IS"]')
    thumb.focus()
    thumb.press("Home")  # 100 images per digit: the smallest choice
    page.locator('input[aria-label="Images per digit for FID and IS"][aria-valuetext="100"]').wait_for(
        state="attached", timeout=30_000)
    app_idle(page)
    page.get_by_role("button", name="Score").click()
    page.locator('[data-testid="stDataFrame"]').wait_for(timeout=240_000)
    page.get_by_text("FID and IS on 1,000 generated images").wait_for(timeout=30_000)
