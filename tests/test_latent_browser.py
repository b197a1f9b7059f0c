"""The latent pages and the loss curves in a real headless Chromium (issue 22, points 5 and 7):
a box on one run's latent scatter highlights the same test images in the other run's scatter, the
hover thumbnail is the hovered test image, the loss curves' log-scale toggle makes every y axis
logarithmic, and the β-VAE page's scatter legends fit without scrolling.

What tests/test_browser.py checks already (a box lists the selected images; hovering shows a
thumbnail; the drawn digit's marker) is not repeated here."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser import CHROMIUM_ARGS, app_idle, chromium_path, next_frame, running_app

pytestmark = pytest.mark.browser

SCATTERS = '[data-testid="latent-scatter"]'


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with running_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.base = url
        yield page
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_latent_space(page) -> None:
    """The Latent space page with the default runs, both scatters drawn (2,000 points each)."""
    page.goto(page.base + "/latent_space", wait_until="domcontentloaded")
    page.wait_for_function("sel => document.querySelectorAll(sel).length === 2", arg=SCATTERS + '[data-shown="2000"]',
                           timeout=90_000)
    app_idle(page)


def selected_counts(page) -> list[int]:
    return page.eval_on_selector_all(SCATTERS, "els => els.map(e => Number(e.dataset.selected))")


def test_a_box_on_one_run_highlights_the_same_test_images_in_the_other(page):
    open_latent_space(page)
    first, second = page.locator(SCATTERS).nth(0), page.locator(SCATTERS).nth(1)
    box = first.locator('[data-testid="scatter-canvas"]').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.30, box["y"] + box["height"] * 0.30)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.60, box["y"] + box["height"] * 0.60, steps=8)
    page.mouse.up()
    page.wait_for_function("sel => Number(document.querySelectorAll(sel)[0].dataset.selected) > 0", arg=SCATTERS,
                           timeout=30_000)
    n = selected_counts(page)[0]
    # the other run's scatter shows the same test images selected: as many points (its layout differs)
    page.wait_for_function("([sel, n]) => Number(document.querySelectorAll(sel)[1].dataset.selected) === n",
                           arg=[SCATTERS, n], timeout=60_000)
    assert second.locator('[data-testid="scatter-status"]').inner_text().startswith(f"{n:,} of 2,000 points selected")
    listing = page.get_by_text("Selected ", exact=False).filter(has_text="of 2,000 points (a box on").first
    listing.wait_for(timeout=30_000)
    assert listing.inner_text().startswith(f"Selected {n} of 2,000 points (a box on CAE")
    app_idle(page)
    assert selected_counts(page) == [n, n]  # the page's rerun (each scatter given the shared selection) kept it
    assert page.get_by_text("Highlighted: the").first.inner_text().startswith(f"Highlighted: the {n:,} test images")

    # a double click on the other run's scatter clears the selection everywhere
    other = second.locator('[data-testid="scatter-canvas"]').bounding_box()
    page.mouse.dblclick(other["x"] + other["width"] * 0.5, other["y"] + other["height"] * 0.5)
    page.wait_for_function("sel => Array.from(document.querySelectorAll(sel)).every(e => e.dataset.selected === '0')",
                           arg=SCATTERS, timeout=60_000)
    page.get_by_text("of 2,000 points (a box on").first.wait_for(state="detached", timeout=60_000)  # the page heard

    # a box on the second run now leads: the first follows
    page.mouse.move(other["x"] + other["width"] * 0.25, other["y"] + other["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(other["x"] + other["width"] * 0.55, other["y"] + other["height"] * 0.7, steps=8)
    page.mouse.up()
    page.wait_for_function("sel => { const c = Array.from(document.querySelectorAll(sel), e => Number(e.dataset.selected));"
                           " return c[1] > 0 && c[0] === c[1]; }", arg=SCATTERS, timeout=60_000)
    m = selected_counts(page)[1]
    listing = page.get_by_text("Selected ", exact=False).filter(has_text="(a box on CVAE").first
    listing.wait_for(timeout=60_000)
    assert listing.inner_text().startswith(f"Selected {m} of 2,000 points")
    app_idle(page)
    assert selected_counts(page) == [m, m]  # the page's rerun kept what the browser showed


def test_the_hover_thumbnail_is_the_hovered_test_image(page):
    from core.data.mnist import shared_mnist_arrays

    open_latent_space(page)
    scatter = page.locator(SCATTERS).nth(1)
    area = scatter.locator('[data-testid="scatter-canvas"]')
    box = area.bounding_box()
    tooltip = scatter.locator('[data-testid="scatter-tooltip"]')
    for fy in (0.5, 0.4, 0.6):
        for fx in [i / 24 for i in range(3, 22)]:  # sweep until the pointer meets a point
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            next_frame(page)
            if tooltip.is_visible() and tooltip.get_attribute("data-image") == "1":
                break
        else:
            continue
        break
    assert tooltip.is_visible() and tooltip.get_attribute("data-image") == "1"
    index = int(tooltip.inner_text().split("#")[1].split()[0])
    digit = int(tooltip.inner_text().split("digit ")[1].split()[0])
    pixels = np.array(tooltip.locator("canvas").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 84, 84).data)"), dtype=np.float32)
    shown = pixels.reshape(84, 84, 4)[1::3, 1::3, 0]  # the red channel of each ×3 cell
    images, labels = shared_mnist_arrays(train=False)
    assert int(labels[index]) == digit
    assert np.abs(shown - images[index].astype(np.float32)).max() <= 9  # 16 grey levels: within 8/255 (+ rounding)


def test_the_log_scale_toggle_makes_every_y_axis_logarithmic(page):
    page.goto(page.base + "/loss_curves", wait_until="domcontentloaded")
    page.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=90_000)
    app_idle(page)
    # the figure is redrawn when the toggle changes: between two drawings there may be none for a moment
    types = """() => { const gd = document.querySelector('.js-plotly-plot');
        if (!gd || !gd._fullLayout) return null;
        return Object.keys(gd._fullLayout).filter(k => /^yaxis\\d*$/.test(k)).map(k => gd._fullLayout[k].type); }"""
    assert set(page.evaluate(types)) == {"linear"}
    page.get_by_text("Log scale").click()
    page.wait_for_function(types.replace("map(k => gd._fullLayout[k].type)",
                                         "every(k => gd._fullLayout[k].type === 'log')"), timeout=60_000)
    app_idle(page)
    assert set(page.evaluate(types)) == {"log"}
    # the curves are drawn on it: the first y axis spans the values' logarithms
    span = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.yaxis.range")
    values = page.evaluate("""() => document.querySelector('.js-plotly-plot').calcdata
        .filter(cd => cd[0].trace.yaxis === 'y').flatMap(cd => cd.map(point => point.y))""")
    assert values and span[0] <= np.log10(min(values)) and span[1] >= np.log10(max(values))
    page.get_by_text("Log scale").click()
    page.wait_for_function(types.replace("map(k => gd._fullLayout[k].type)",
                                         "every(k => gd._fullLayout[k].type === 'linear')"), timeout=60_000)


def test_the_vae_study_scatters_keep_their_legend_in_view_and_title_their_axes(page):
    page.goto(page.base + "/vae_study", wait_until="domcontentloaded")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=90_000)
    app_idle(page)
    next_frame(page, 4)
    plots = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
        const legend = gd.querySelector('.legend'), bg = legend && legend.querySelector('.bg');
        const bar = legend && legend.querySelector('.scrollbar');
        const axes = Object.keys(gd._fullLayout).filter(k => /^[xy]axis\\d*$/.test(k));
        return {scatter: gd.data.some(t => t.type === 'scattergl'),
                scrolls: !!bar && bar.getBoundingClientRect().height > 0,
                legendHeight: bg ? bg.getBoundingClientRect().height : 0,
                figureHeight: gd.getBoundingClientRect().height,
                axes: axes.length, titled: axes.filter(k => (gd._fullLayout[k].title || {}).text).length,
                titlesDrawn: gd.querySelectorAll('.g-xtitle text, .g-ytitle text, [class*="g-x"][class$="title"] text,'
                                                 + ' [class*="g-y"][class$="title"] text').length}; })""")
    scatters = [p for p in plots if p["scatter"]]
    assert len(scatters) == 2, plots
    for p in scatters:
        assert not p["scrolls"] and 0 < p["legendHeight"] < 0.25 * p["figureHeight"], p
        assert p["axes"] >= 2 and p["titled"] == p["axes"] and p["titlesDrawn"] >= p["axes"], p
