"""The Draw page and this browser's Archive in a real headless Chromium: the archive survives a reload
and a restart of the browser, another browser never sees it, clearing empties it; a noise changes the
picture the models see without adding an entry; switching the input back and forth adds none."""

from __future__ import annotations

import pytest

from core.paths import SHIPPED_CHECKPOINTS
from core.runs.format import list_run_dirs
from tests.browser import app_idle, one_stroke, read_predictions, running_app, stroke

pytestmark = pytest.mark.browser

SHIPPED = {p.name for p in list_run_dirs(SHIPPED_CHECKPOINTS)}
RUNS = [name for name in ("cae-z32-s0", "cvae-z32-s0") if name in SHIPPED]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard with a cache folder of its own (so the archives are this test's only)."""
    cache = tmp_path_factory.mktemp("cache")
    with running_app(env={"DIGITLAB_CACHE": str(cache)}) as url:
        yield url, cache


def new_page(browser, storage_state=None):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, storage_state=storage_state)
    return context.new_page()


def open_draw(page, url: str) -> dict:
    """Open the Draw page, wait until this browser's id is known and the canvas is ready; return the
    canvas's box."""
    page.goto(f"{url}/draw?runs={','.join(RUNS)}", wait_until="domcontentloaded")
    page.get_by_text("Draw a digit on the canvas").wait_for(timeout=90_000)
    page.wait_for_function("() => document.cookie.includes('digitlab_browser=')", timeout=60_000)
    app_idle(page)
    canvas = page.locator('[data-testid="sketchpad-canvas"]')
    canvas.wait_for(state="visible", timeout=60_000)
    page.locator('[data-testid="sketchpad"][data-key]').wait_for(state="attached", timeout=60_000)
    return canvas.bounding_box()


def draw_a_one(page, url: str) -> None:
    stroke(page, open_draw(page, url), one_stroke())
    page.locator('[data-testid="draw-clean"]').wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.dl-card[data-run]').length > 0", timeout=60_000)
    app_idle(page)


def archive_rows(page, url: str) -> list[str]:
    """Open the Archive page; its rows' text, newest first ([] when it is empty)."""
    page.goto(f"{url}/archive", wait_until="domcontentloaded")
    page.wait_for_function("""() => document.querySelector('[data-testid="archive-table"]')
        || document.body.innerText.includes('Nothing classified yet')""", timeout=90_000)
    app_idle(page)
    return [row.inner_text() for row in page.locator('[data-testid="archive-table"] tr[data-number]').all()]


def test_a_drawing_is_in_the_archive_after_a_reload_and_a_restart_and_nowhere_else(server, browser):
    url, cache = server
    page = new_page(browser)
    draw_a_one(page, url)
    browser_id = page.evaluate("() => localStorage.getItem('digitlab_browser')")
    assert len(browser_id) == 32 and f"digitlab_browser={browser_id}" in page.evaluate("() => document.cookie")
    assert (cache / "archives" / f"{browser_id}.json").is_file()
    assert page.locator('[data-testid="browser-id"]').count() == 0 or not page.locator(".st-key-dl_browser_id").is_visible()

    page.reload(wait_until="domcontentloaded")  # a reload: a new session of the same browser
    page.get_by_text("Draw a digit on the canvas").wait_for(timeout=90_000)
    rows = archive_rows(page, url)
    assert len(rows) == 1 and "drawn" in rows[0], rows

    state = page.context.storage_state()  # the browser closed and started again: its storage is kept
    page.context.close()
    again = new_page(browser, storage_state=state)
    rows = archive_rows(again, url)
    assert len(rows) == 1 and "drawn" in rows[0], rows

    other = new_page(browser)  # another browser: its own id, its own (empty) archive
    assert archive_rows(other, url) == []
    other.wait_for_function("() => localStorage.getItem('digitlab_browser')", timeout=60_000)
    assert other.evaluate("() => localStorage.getItem('digitlab_browser')") != browser_id
    other.context.close()

    again.get_by_role("button", name="Clear the archive").click()
    again.get_by_text("Nothing classified yet").wait_for(timeout=60_000)
    assert archive_rows(again, url) == []  # read again from the server
    assert not (cache / "archives" / f"{browser_id}.json").exists()
    again.context.close()


def test_a_noise_changes_what_the_models_see_and_a_drawing_stays_one_entry(server, browser):
    url, _ = server
    page = new_page(browser)
    draw_a_one(page, url)
    assert page.locator('[data-testid="draw-noisy"]').count() == 0
    before = read_predictions(page)

    for kind in ("Salt and pepper (flipped pixels)", "Occluding square on the ink"):
        page.locator(".st-key-draw_noise_kind").click()
        page.get_by_role("option", name=kind).click()
        page.get_by_text(f"then {kind}").first.wait_for(timeout=60_000)  # the caption names the noise
        app_idle(page)
        clean, noisy = page.evaluate("""() => ['draw-clean', 'draw-noisy'].map(
            id => document.querySelector(`[data-testid="${id}"]`).getAttribute('src'))""")  # drawn by one run
        assert noisy != clean  # the models see another picture

    page.locator(".st-key-draw_source").get_by_text("Upload an image").click()  # and back: the drawing is sent again
    page.get_by_text("Upload a picture of one digit").wait_for(timeout=60_000)
    page.locator(".st-key-draw_source").get_by_text("Draw", exact=True).click()
    page.locator('[data-testid="draw-noisy"]').wait_for(timeout=60_000)
    app_idle(page)
    assert read_predictions(page).keys() == before.keys()

    rows = archive_rows(page, url)
    assert len(rows) == 1, rows  # one drawing, one entry (it was 1 + one per noise change and per switch)
    assert "Occluding square on the ink" in rows[0]
    page.context.close()


def test_a_true_digit_typed_in_the_archive_gives_the_accuracy_and_goes_into_the_csv(server, browser, tmp_path):
    import csv

    url, _ = server
    page = new_page(browser)
    draw_a_one(page, url)
    assert len(archive_rows(page, url)) == 1
    assert page.locator('[data-testid="archive-accuracy"]').count() == 0
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(state="visible", timeout=60_000)
    box = grid.bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] - 60, box["y"] + 50)  # the true digit cell of the first row
    page.get_by_role("option", name="1", exact=True).click()
    page.keyboard.press("Enter")
    accuracy = page.locator('[data-testid="archive-accuracy"]')
    accuracy.wait_for(timeout=60_000)
    app_idle(page)
    judge = accuracy.locator('tr[data-label="Judge CNN · seed 0"] td').all_inner_texts()
    assert judge == ["Judge CNN · seed 0", "1", "1", "100 %"], judge  # the judge reads this 1 right (test_browser.py)
    assert page.locator('[data-testid="archive-table"] td.dl-truth').first.inner_text() == "1"
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "archive.csv"
    download.value.save_as(path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [row["true_digit"] for row in rows] == ["1"]
    page.context.close()
