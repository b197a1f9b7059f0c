"""The dashboard in a real headless Chromium: draw digits on the canvas with the mouse."""

from __future__ import annotations

import time

import pytest

from core.paths import SHIPPED_CHECKPOINTS
from core.runs.format import list_run_dirs
from tests.browser import (
    CHROMIUM_ARGS,
    FrameLog,
    app_idle,
    chromium_path,
    next_frame,
    one_stroke,
    read_predictions,
    running_app,
    stroke,
    zero_stroke,
)

pytestmark = pytest.mark.browser

SHIPPED = {p.name for p in list_run_dirs(SHIPPED_CHECKPOINTS)}
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
        page.frames_seen = FrameLog(page)
        page.goto(url + "/draw?runs=" + ",".join(CLASSIFIERS), wait_until="domcontentloaded")
        page.get_by_text("Draw a digit on the canvas").wait_for(timeout=90_000)
        yield page
        browser.close()


def wait_for_predictions(page, digit: str, timeout: float = 60.0, cards: int = EXPECTED_CARDS) -> dict[str, str]:
    """Wait until at least ``cards`` prediction cards are shown and every one shows ``digit`` (or the
    timeout); return what the cards show then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("""([digit, expected]) => {
            const cards = Array.from(document.querySelectorAll('.dl-card[data-run]'));
            return cards.length >= expected && cards.every(card =>
                ((card.querySelector('.dl-pred') || {}).innerText || '').trim() === digit); }""",
                               arg=[digit, cards], timeout=timeout * 1000)
    except PlaywrightTimeout:
        pass  # the callers' assertions say what was shown instead
    return read_predictions(page)


def points_drawn(page) -> None:
    """Wait until the first latent scatter has drawn its points (its ``data-shown`` count)."""
    page.locator('[data-testid="latent-scatter"]:not([data-shown="0"])').first.wait_for(state="attached",
                                                                                       timeout=90_000)


def fresh_canvas(page) -> dict:
    """Clear the canvas if something is drawn, wait until it is ready; return its bounding box."""
    if read_predictions(page):
        page.get_by_role("button", name="Clear canvas").click()
        page.locator(".dl-card[data-run]").first.wait_for(state="detached", timeout=30_000)
        assert not read_predictions(page), "the Clear canvas button did not clear the predictions"
    canvas = page.locator('[data-testid="sketchpad-canvas"]')
    canvas.wait_for(state="visible", timeout=60_000)
    # the component sets data-key once its pointer handlers are attached and it has its data
    page.locator('[data-testid="sketchpad"][data-key]').wait_for(state="attached", timeout=60_000)
    return canvas.bounding_box()


@pytest.mark.parametrize("digit, points", [("1", one_stroke()), ("0", zero_stroke())])
def test_drawn_digit_is_classified(page, tmp_path, digit, points):
    stroke(page, fresh_canvas(page), points)
    seen = wait_for_predictions(page, digit)
    page.screenshot(path=str(tmp_path / f"draw-{digit}.png"), full_page=True)
    assert len(seen) == EXPECTED_CARDS, f"expected {EXPECTED_CARDS} prediction cards, saw {seen}"
    assert any(label.startswith("Judge") for label in seen) == JUDGE
    assert all(value == digit for value in seen.values()), f"drew a {digit}, models predicted {seen}"


def test_predictions_follow_the_pen_and_a_second_stroke_reruns_only_the_drawing(page):
    """While the pen moves the answers refresh several times a second, and adding a stroke reruns the
    drawing's fragment only: no message touches the sidebar (a full page rerun redraws it)."""
    box = fresh_canvas(page)
    frames = page.frames_seen

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    def sent() -> int:
        return int(page.locator('[data-testid="sketchpad"]').get_attribute("data-sent"))

    page.mouse.move(*at(0.30, 0.20))  # the bar of a 7, then lift the pen
    page.mouse.down()
    page.mouse.move(*at(0.70, 0.20), steps=4)
    pen_up = frames.mark()
    page.mouse.up()
    frames.wait_for_runs(pen_up)  # the run of the pen-up drawing has finished
    app_idle(page)
    mark = frames.mark()
    first = read_predictions(page)
    # the diagonal of the 7, drawn slowly: each segment waits for the live send the pen's move starts
    # (the sketchpad sends at most every 150 ms while the pen is down)
    page.mouse.move(*at(0.70, 0.20))
    page.mouse.down()
    start = time.time()
    for i in range(1, 9):
        before = sent()
        page.mouse.move(*at(0.70 - 0.25 * i / 8, 0.20 + 0.65 * i / 8), steps=2)
        page.wait_for_function("n => Number(document.querySelector('[data-testid=sketchpad]').dataset.sent) > n",
                               arg=before, timeout=10_000)
    frames.wait_for_runs(mark, count=2, timeout=30)  # answers come back while the pen is still down
    pen_down = time.time() - start
    while_drawing = [m for m in frames.since(mark) if m.WhichOneof("type") == "script_finished"]
    pen_up = frames.mark()
    page.mouse.up()
    frames.wait_for_runs(pen_up)
    app_idle(page)
    messages = frames.since(mark)
    deltas = [m for m in messages if m.WhichOneof("type") == "delta"]
    # answers came back while the pen was still down (the rate, ≥ 5/s, is benchmarks/bench_ui.py's to measure)
    assert len(while_drawing) >= 2, (len(while_drawing), pen_down)
    assert deltas and all(list(m.metadata.delta_path)[:1] != [1] for m in deltas)  # [1...] is the sidebar
    assert not any(m.WhichOneof("type") == "new_session" and m.new_session.page_script_hash and
                   list(m.metadata.delta_path)[:1] == [1] for m in messages)
    now = read_predictions(page)
    assert now and now != first, (first, now)  # a bar alone and a whole 7 are not read the same


def test_link_text_is_shown_as_plain_words(page):
    """A link could put a clickable link or an outside image into the page through ?runs=."""
    base = page.url.split("/draw")[0]
    for bad in ["[Log in again](https://example.com/login)", "![x](http://127.0.0.1:9/pixel.png)"]:
        page.goto(base + "/?runs=" + bad, wait_until="domcontentloaded")
        warning = page.get_by_text("Unknown runs in the link")
        warning.wait_for(timeout=60_000)
        alert = page.locator('[data-testid="stAlert"]').filter(has_text="Unknown runs in the link").first
        assert alert.locator("a").count() == 0 and alert.locator("img").count() == 0
        assert ("Log in again" in alert.inner_text()) or ("pixel.png" in alert.inner_text())


def test_latent_scatter_selection_shows_the_images(page):
    """Box-select points on the first latent scatter; the page shows the selected test images."""
    page.goto(page.url.split("?")[0].rsplit("/", 1)[0] + "/latent_space", wait_until="domcontentloaded")
    area = page.locator('[data-testid="scatter-canvas"]').first
    area.wait_for(state="visible", timeout=90_000)
    points_drawn(page)
    box = area.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * 0.65, steps=8)
    page.mouse.up()
    caption = page.get_by_text("Test indices (digit): #")
    caption.wait_for(timeout=60_000)
    text = caption.inner_text()
    assert text.count("#") >= 1 and "(" in text  # e.g. "Test indices (digit): #1416 (0), #1768 (0)"
    assert page.get_by_text("Selected ").first.inner_text().split(" of ")[1].startswith("2,000 points")


def test_hovering_a_point_shows_its_image_and_the_drawn_digit_is_marked(page):
    base = page.url.split("?")[0].rsplit("/", 1)[0]
    page.goto(base + "/draw", wait_until="domcontentloaded")
    stroke(page, fresh_canvas(page), zero_stroke())
    wait_for_predictions(page, "0", cards=1)  # the default runs' cards (this link names no runs)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Latent space").click()  # same session
    area = page.locator('[data-testid="scatter-canvas"]').first
    area.wait_for(state="visible", timeout=90_000)
    points_drawn(page)
    assert "your digit" in page.locator('[data-testid="latent-scatter"]').first.inner_text()  # legend: ★ your digit
    box = area.bounding_box()
    tooltip = page.locator('[data-testid="scatter-tooltip"]').first
    for fx in [i / 20 for i in range(2, 19)]:  # sweep until the pointer meets a point
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + 0.5 * box["height"])
        next_frame(page)  # the scatter has handled the move
        if tooltip.is_visible():
            break
    assert tooltip.is_visible() and tooltip.locator("canvas, img").count() >= 1
    assert "★" in page.get_by_text("marks the digit you drew").first.inner_text()


def test_leaderboard_draws_its_plot_and_table(page):
    """The leaderboard's plotly chart (drawn by JavaScript) shows one trace per architecture."""
    page.goto(page.url.rsplit("/", 1)[0] + "/leaderboard", wait_until="domcontentloaded")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(state="visible", timeout=90_000)
    page.wait_for_function("""() => Array.from(document.querySelectorAll('.js-plotly-plot .legendtext'))
        .some(e => e.textContent.includes('Table 1'))""", timeout=60_000)  # plotly has drawn its legend
    names = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert any(name.startswith("CAE") for name in names) and any("Table 1" in name for name in names), names
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2
    assert page.get_by_text("Beside seed 000's Table 1").is_visible()


def test_typing_part_of_a_run_name_and_enter_adds_one_run(page):
    """Typing a partial name and pressing Enter added every match ("Select N matches")."""
    base = page.url.split("?")[0].rsplit("/", 1)[0]
    page.goto(base + "/?runs=cae-z32-s0", wait_until="domcontentloaded")
    page.get_by_text("Shipped runs").wait_for(timeout=60_000)
    field = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"] input').first
    field.click()
    field.type("cvae", delay=30)
    # the typed text is in the field and the filtered list is on screen
    page.wait_for_function("field => field.value === 'cvae'", arg=field.element_handle(), timeout=30_000)
    page.locator('[role="option"]').first.wait_for(timeout=30_000)
    next_frame(page)
    options = page.locator('[role="option"]').all_inner_texts()
    assert options and not any("matches" in o or o.startswith("Select all") for o in options), options
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URL(location.href).searchParams.get('runs').split(',').length === 2",
                           timeout=30_000)
    assert page.url.split("runs=")[1].replace("%2C", ",").split(",")[0] == "cae-z32-s0"


def test_a_photo_of_a_digit_is_read_and_junk_gets_a_sentence(page, mnist_splits):
    """Upload a photo-like picture (dark 3 on a lighting gradient, noisy JPEG): every model reads it;
    then a file that is no picture: a message in words replaces the old predictions."""
    from core.data.preprocess import mnist_preprocess
    from core.explore.latents import class_probabilities
    from core.runs.catalog import list_runs
    from tests.test_preprocess import paper_photo

    runs, _ = list_runs()
    models = [runs[name].model for name in CLASSIFIERS + (["judge-s0"] if JUDGE else [])]
    threes = mnist_splits.test_x[mnist_splits.test_y == 3][:50, 0].numpy()
    # a 3 that every model reads as a 3 when it is clean, so the photo path is what is tested
    digit = next(d for d in threes if all(class_probabilities(m, mnist_preprocess(d)).argmax() == 3 for m in models))
    photo = paper_photo(digit, "noisy")
    base = page.url.split("?")[0].rsplit("/", 1)[0]
    page.goto(base + "/draw?runs=" + ",".join(CLASSIFIERS), wait_until="domcontentloaded")
    page.locator(".st-key-draw_source").get_by_text("Upload an image").click()
    chooser = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    chooser.wait_for(state="attached", timeout=60_000)
    chooser.set_input_files(files=[{"name": "photo of a 3.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    seen = wait_for_predictions(page, "3")
    assert len(seen) == EXPECTED_CARDS and all(v == "3" for v in seen.values()), seen
    chooser.set_input_files(files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"just some text"}])
    message = page.locator('[data-testid="stAlert"]').filter(has_text="notes").first
    message.wait_for(timeout=60_000)
    text = message.inner_text()
    assert "picture" in text and not any(bad in text for bad in ("<", "object at", "Error", "BytesIO"))
    assert not read_predictions(page)  # the previous picture's answers are gone


def _archive_rows(page) -> list[str]:
    """The Archive page's rows (their text), newest first; [] when it is empty."""
    page.get_by_text("Every digit drawn or uploaded").wait_for(timeout=60_000)
    page.wait_for_function("""() => document.querySelector('[data-testid="archive-table"]')
        || document.body.innerText.includes('Nothing classified yet')""", timeout=60_000)
    app_idle(page)
    return [row.inner_text() for row in page.locator('[data-testid="archive-table"] tr[data-number]').all()]


def test_the_archive_keeps_each_drawing_once_downloads_it_and_is_private(page, tmp_path):
    import csv

    base = page.url.split("/draw")[0].split("?")[0].rstrip("/")
    page.goto(base + "/archive?runs=" + ",".join(CLASSIFIERS), wait_until="domcontentloaded")
    before = _archive_rows(page)
    page.goto(base + "/draw?runs=" + ",".join(CLASSIFIERS), wait_until="domcontentloaded")
    page.get_by_text("Draw a digit on the canvas").wait_for(timeout=60_000)
    stroke(page, fresh_canvas(page), one_stroke())  # answered several times while drawn: one entry
    assert set(wait_for_predictions(page, "1").values()) == {"1"}
    page.get_by_role("link", name="Archive").first.click()
    rows = _archive_rows(page)
    assert len(rows) == len(before) + 1, (before, rows)
    assert "drawn" in rows[0] and "Judge CNN · seed 0: 1" in rows[0], rows[0]

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "archive.csv"
    download.value.save_as(path)
    table = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(table) == len(rows) and table[-1]["Judge CNN · seed 0: digit"] == "1"

    other = page.context.browser.new_page()  # another visitor: another session, an empty archive
    try:
        other.goto(base + "/archive", wait_until="domcontentloaded")
        other.get_by_text("Nothing classified yet").wait_for(timeout=60_000)
    finally:
        other.close()


def test_a_picture_of_a_three_digit_number_is_read(page, mnist_splits):
    """Upload a scan-like PNG of 4 0 7 (dark ink on white paper): the digits are boxed and the judge
    reads 407."""
    import io

    import numpy as np
    from PIL import Image

    x, y = mnist_splits.test_x, mnist_splits.test_y
    paper = np.zeros((40, 130), np.float32)
    for k, digit in enumerate((4, 0, 7)):
        paper[6:34, 8 + 40 * k:36 + 40 * k] = x[int((y == digit).nonzero()[0, 0]), 0].numpy()
    buffer = io.BytesIO()
    Image.fromarray(((1.0 - paper) * 255).astype(np.uint8)).resize((390, 120), Image.BILINEAR).save(buffer, "PNG")
    base = page.url.split("?")[0].rsplit("/", 1)[0]
    page.goto(base + "/read_number?runs=" + ",".join(CLASSIFIERS), wait_until="domcontentloaded")
    page.locator(".st-key-num_source").get_by_text("Upload a picture").click()
    chooser = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    chooser.wait_for(state="attached", timeout=60_000)
    chooser.set_input_files(files=[{"name": "number.png", "mimeType": "image/png", "buffer": buffer.getvalue()}])
    judge_row = page.locator('[data-testid="number-readings"] tr[data-run="judge-s0"] .dl-number')
    judge_row.wait_for(timeout=60_000)
    assert judge_row.inner_text().strip() == "407"
    assert page.get_by_text("3 digits found").count() == 1
    page.get_by_role("link", name="Archive").first.click()  # the same session: its digits are archived
    rows = _archive_rows(page)
    newest = rows[:3]  # newest first: digits 3, 2 and 1 of the number
    for k, (row, digit) in enumerate(zip(newest, "704")):
        assert f"number uploaded: number.png, digit {3 - k} of 3" in row and f"Judge CNN · seed 0: {digit}" in row, row
