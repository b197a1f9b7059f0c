"""The dashboard in a real headless Chromium: draw digits on the canvas with the mouse."""

from __future__ import annotations

import time

import pytest

from browser import CHROMIUM_ARGS, chromium_path, one_stroke, read_predictions, running_app, stroke, zero_stroke


from core.checkpoints import DEFAULT_CHECKPOINT_DIR, list_run_dirs

SHIPPED = {p.name for p in list_run_dirs(DEFAULT_CHECKPOINT_DIR)}
#: one shipped run of every architecture that classifies, preselected through the page's link
CLASSIFIERS = [name for name in ("cae-z32-s0", "cvae-z32-s0", "conv-cvae-z16-s0", "mlp-cvae-z16-s0") if name in SHIPPED]
JUDGE = "judge-s0" in SHIPPED
EXPECTED_CARDS = len(CLASSIFIERS) + JUDGE  # a prediction card per run, and the judge's


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with running_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/draw?runs=" + ",".join(CLASSIFIERS), wait_until="domcontentloaded")
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=90_000)
        yield page
        browser.close()


def wait_for_predictions(page, digit: str, timeout: float = 60.0) -> dict[str, str]:
    """Poll until every expected card shows ``digit`` (or the timeout); return the last seen."""
    deadline = time.time() + timeout
    seen = {}
    while time.time() < deadline:
        seen = read_predictions(page)
        if len(seen) >= EXPECTED_CARDS and all(value == digit for value in seen.values()):
            return seen
        page.wait_for_timeout(500)
    return seen


def fresh_canvas(page) -> dict:
    """Clear the canvas if something is drawn, wait until it is ready; return its bounding box."""
    if read_predictions(page):
        page.get_by_role("button", name="Clear canvas").click()
        deadline = time.time() + 30
        while read_predictions(page) and time.time() < deadline:
            page.wait_for_timeout(300)
        assert not read_predictions(page), "the Clear canvas button did not clear the predictions"
    canvas = page.locator("canvas").last
    canvas.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(1500)  # let the component attach its mouse handlers
    return canvas.bounding_box()


@pytest.mark.parametrize("digit, points", [("1", one_stroke()), ("0", zero_stroke())])
def test_drawn_digit_is_classified(page, tmp_path, digit, points):
    stroke(page, fresh_canvas(page), points)
    seen = wait_for_predictions(page, digit)
    page.screenshot(path=str(tmp_path / f"draw-{digit}.png"), full_page=True)
    assert len(seen) == EXPECTED_CARDS, f"expected {EXPECTED_CARDS} prediction cards, saw {seen}"
    assert any(label.startswith("Judge") for label in seen) == JUDGE
    assert all(value == digit for value in seen.values()), f"drew a {digit}, models predicted {seen}"


def test_latent_scatter_selection_shows_the_images(page):
    """Box-select points on the first latent scatter; the page shows the selected test images."""
    page.goto(page.url.rsplit("/", 1)[0] + "/latent_space", wait_until="domcontentloaded")
    area = page.locator(".js-plotly-plot .nsewdrag").first
    area.wait_for(state="visible", timeout=90_000)
    page.wait_for_timeout(1500)
    box = area.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * 0.65, steps=8)
    page.mouse.up()
    caption = page.get_by_text("Selected: #")
    caption.wait_for(timeout=60_000)
    text = caption.inner_text()
    assert text.count("#") >= 1 and "(" in text  # e.g. "Selected: #1416 (0), #1768 (0)"


def test_leaderboard_draws_its_plot_and_table(page):
    """The leaderboard's plotly chart (drawn by JavaScript) shows one trace per architecture."""
    page.goto(page.url.rsplit("/", 1)[0] + "/leaderboard", wait_until="domcontentloaded")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(state="visible", timeout=90_000)
    page.wait_for_timeout(1000)
    names = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert any(name.startswith("CAE") for name in names) and any("Table 1" in name for name in names), names
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2
    assert page.get_by_text("Beside seed 000's Table 1").is_visible()
