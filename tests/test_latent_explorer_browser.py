"""The Latent sliders & interpolation page in a real headless Chromium: a slider step changes the decoded
image, and "Animate along one axis" shows a looping GIF."""

from __future__ import annotations

import base64
import io

import pytest

from tests.browser import CHROMIUM_ARGS, app_idle, chromium_path, running_app

pytestmark = pytest.mark.browser

#: a slider's thumb: the ARIA slider role (baseweb), or the range input react-aria renders
THUMB = "[role='slider'], input[type='range']"
#: the first run's decoded slider image
IMAGE = 'img[alt="decoded code"]'


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with running_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "/latent_explorer", wait_until="domcontentloaded")
        page.locator(IMAGE).first.wait_for(state="visible", timeout=120_000)
        app_idle(page, timeout=120)
        yield page
        browser.close()


def test_moving_a_slider_changes_the_image(page):
    before = page.locator(IMAGE).first.get_attribute("src")
    thumb = page.locator(".st-key-sl_0").locator(THUMB).first
    thumb.focus()
    page.keyboard.press("End")  # the slider's maximum: +3σ along PC1
    page.wait_for_function("""([selector, before]) => {
        const img = document.querySelector(selector);
        return img && img.getAttribute('src') !== before; }""", arg=[IMAGE, before], timeout=60_000)
    app_idle(page)
    # a run whose decode was measured slow is drawn by a background thread a moment later (dashboard/background.py)
    page.wait_for_function("""() => {
        const text = document.querySelector('[data-testid="stMain"]').innerText;
        return (text.match(/The judge reads a /g) || []).length >= 2 && !text.includes('Decoding the moved code'); }""",
                           timeout=60_000)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "PC1 +3.0σ" in text
    assert text.count("The judge reads a ") == 2  # beside each slider image (the interpolation tab is hidden)


def test_animate_along_one_axis_shows_a_looping_gif(page):
    from PIL import Image

    gifs = page.locator('img[src^="data:image/gif;base64,"]')
    assert gifs.count() == 0
    page.locator(".st-key-sl_animate").get_by_text("Animate along one axis").click()
    gifs.first.wait_for(state="visible", timeout=60_000)
    app_idle(page)
    assert gifs.count() == 2  # one per default run
    assert gifs.first.get_attribute("alt") == "animation along PC1"
    data = gifs.first.get_attribute("src").split(",", 1)[1]
    animation = Image.open(io.BytesIO(base64.b64decode(data)))
    assert animation.n_frames > 10 and animation.info.get("loop") == 0
