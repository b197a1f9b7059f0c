"""The dashboard's own components (dashboard/components/): Python side, then in a real headless Chromium.

The browser tests drive tests/apps/components_app.py (one app start for the module): each component
sits in its own ``@st.fragment`` that writes what it received, its run counter and the whole script's
run counter, so every gesture is also checked to rerun only its fragment. One more test opens, in a
new tab, a small app of its own: what the dashboard's escaping helpers make of text from files.
"""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.paths import REPO_ROOT
from dashboard.components.latent_scatter import (
    DIGIT_PALETTE,
    _clean_result,
    latent_scatter,
    scatter_payload,
    thumbnail_atlas,
)
from dashboard.components.sketchpad import decode_drawing, sketchpad
from tests.browser import app_idle, next_frame

APP = REPO_ROOT / "tests" / "apps" / "components_app.py"


def png_data_url(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def canvas_like(width: int = 280, height: int = 200) -> Image.Image:
    """What the sketchpad sends: an opaque RGBA canvas, black, with one white stroke."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    ImageDraw.Draw(image).line([(40, 30), (200, 170)], fill=(255, 255, 255, 255), width=20)
    return image


# ------------------------------------------------------------------------------------------------
# sketchpad: decoding
# ------------------------------------------------------------------------------------------------

def test_decode_drawing_reads_a_canvas_png_as_float_ink():
    ink = decode_drawing(png_data_url(canvas_like()))
    assert ink is not None and ink.shape == (200, 280) and ink.dtype == np.float32
    assert ink.min() == 0.0 and ink.max() == pytest.approx(1.0)
    assert 0.05 < ink.mean() < 0.3  # a 20 px wide diagonal line
    assert ink[100, 120] == pytest.approx(1.0) and ink[190, 10] == 0.0  # on the line / a corner


def test_decode_drawing_counts_transparent_pixels_as_no_ink():
    image = Image.new("RGBA", (50, 40), (255, 255, 255, 0))  # white but fully transparent
    image.putpixel((3, 4), (255, 255, 255, 255))
    ink = decode_drawing(png_data_url(image))
    assert ink is not None and ink.shape == (40, 50) and ink.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("payload", [
    None, "", 42, b"data:image/png;base64,", ["x"], "not a data url", "data:image/png;base64,",
    "data:image/png;base64,!!!!", "data:image/png;base64," + base64.b64encode(b"not a png at all").decode(),
    "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff").decode(),
])
def test_decode_drawing_returns_none_for_malformed_payloads(payload):
    assert decode_drawing(payload) is None


def test_decode_drawing_returns_none_for_blank_truncated_jpeg_or_huge_pictures():
    assert decode_drawing(png_data_url(Image.new("RGBA", (28, 28), (0, 0, 0, 255)))) is None  # no ink
    good = png_data_url(canvas_like())
    assert decode_drawing(good[: len(good) // 2]) is None  # truncated base64 / PNG
    truncated = base64.b64decode(good.split(",", 1)[1])[:300]
    assert decode_drawing("data:image/png;base64," + base64.b64encode(truncated).decode()) is None
    jpeg = png_data_url(canvas_like().convert("RGB"), fmt="JPEG")  # right prefix, JPEG inside
    assert decode_drawing(jpeg) is None
    assert decode_drawing(png_data_url(Image.new("1", (5000, 5000)))) is None  # over MAX_PIXELS


def test_sketchpad_refuses_bad_sizes():
    with pytest.raises(ValueError, match="width"):
        sketchpad("k", width=0)
    with pytest.raises(ValueError, match="brush"):
        sketchpad("k", brush=2.5)
    with pytest.raises(ValueError, match="live_ms"):
        sketchpad("k", live_ms=-1)


# ------------------------------------------------------------------------------------------------
# the components' scripts and styles: files shipped with the package
# ------------------------------------------------------------------------------------------------

def test_each_components_script_and_style_is_a_file_beside_it_shipped_as_package_data():
    import tomllib
    from fnmatch import fnmatch

    import dashboard.components.latent_scatter as scatter
    import dashboard.components.sketchpad as pad

    for module in (scatter, pad):
        here = Path(module.__file__)
        assert module._JS == here.with_suffix(".js").read_text(encoding="utf-8")
        assert module._CSS == here.with_suffix(".css").read_text(encoding="utf-8")
        assert "export default function" in module._JS and ".dl-" in module._CSS
    app = (REPO_ROOT / "dashboard" / "app.py").read_text(encoding="utf-8")
    assert "<style" not in app and (REPO_ROOT / "dashboard" / "assets" / "app.css").is_file()
    # an installed package has them: each is matched by [tool.setuptools.package-data] of its package
    package_data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [path for path in (REPO_ROOT / "dashboard").rglob("*")
             if path.is_file() and path.suffix in (".js", ".css", ".png")]
    assert {"latent_scatter.js", "latent_scatter.css", "sketchpad.js", "sketchpad.css", "app.css"} <= {f.name for f in files}
    for path in files:
        folder = next(d for d in path.parents if (d / "__init__.py").is_file())
        package, relative = ".".join(folder.relative_to(REPO_ROOT).parts), path.relative_to(folder).as_posix()
        assert any(fnmatch(relative, glob) for glob in package_data.get(package, [])), (package, relative)


# ------------------------------------------------------------------------------------------------
# latent scatter: payload and validation
# ------------------------------------------------------------------------------------------------

def test_scatter_payload_for_10000_points_is_compact():
    rng = np.random.default_rng(0)
    xy = (rng.normal(size=(10_000, 2)) * 6).astype(np.float32)
    labels = rng.integers(0, 10, size=10_000)
    data = scatter_payload(xy, labels, key="k")
    size = len(json.dumps(data))
    assert size < 300_000, f"{size} bytes of JSON for 10,000 points"
    values = [float(v) for v in data["xy"].split(",")]
    assert len(values) == 20_000 and len(data["labels"]) == 10_000
    assert all(round(v, 4) == v for v in values)
    np.testing.assert_allclose(np.reshape(values, (-1, 2)), xy, atol=5.001e-5)
    assert [int(c) for c in data["labels"]] == labels.tolist()
    assert data["colors"] == list(DIGIT_PALETTE) and data["atlas"] is None
    # the same points give the same signature (the browser keeps its selection), other points another
    assert scatter_payload(xy, labels)["sig"] == data["sig"] != scatter_payload(xy[::-1], labels)["sig"]


def test_thumbnail_atlas_places_image_i_at_its_cell_and_is_cached():
    rng = np.random.default_rng(1)
    thumbs = rng.integers(0, 256, size=(23, 28, 28), dtype=np.uint8)
    url, cols = thumbnail_atlas(thumbs)
    assert url.startswith("data:image/png;base64,") and cols == 5
    sheet = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"))
    assert sheet.shape == (5 * 28, 5 * 28)
    for i in (0, 4, 5, 22):
        r, c = divmod(i, cols)
        cell = sheet[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28].astype(int)
        assert np.abs(cell - thumbs[i]).max() <= 8  # 16 grey levels
    assert thumbnail_atlas(thumbs.copy())[0] is url  # cached per content
    floats = thumbnail_atlas(thumbs.astype(np.float32) / 255.0)[0]
    assert floats == url


@pytest.mark.parametrize("kwargs, message", [
    (dict(xy=np.zeros((5, 3))), "xy must be an .N, 2. array"),
    (dict(xy=np.zeros(10)), "xy must be an .N, 2. array"),
    (dict(xy=np.full((5, 2), np.nan)), "NaN or infinite"),
    (dict(labels=np.zeros(4, dtype=int)), "one digit per point"),
    (dict(labels=np.full(5, 10)), "0 to 9"),
    (dict(labels=np.full(5, 1.5)), "0 to 9"),
    (dict(thumbnails=np.zeros((5, 28, 27), dtype=np.uint8)), r"\(N, 28, 28\)"),
    (dict(thumbnails=np.zeros((4, 28, 28), dtype=np.uint8)), r"\(N, 28, 28\)"),
    (dict(marker=(1.0,)), "marker must be one finite"),
    (dict(marker=(1.0, np.inf)), "marker must be one finite"),
    (dict(drag="lasso"), "drag must be"),
    (dict(square=-1.0), "square must be a positive"),
    (dict(axis_labels=("x",)), "axis_labels"),
    (dict(height=50), "height"),
    (dict(point_size=0), "point_size"),
    (dict(ids=np.zeros(4, dtype=int)), "ids must be"),
])
def test_latent_scatter_rejects_mismatched_inputs_with_a_sentence(kwargs, message):
    args = dict(xy=np.zeros((5, 2)), labels=np.arange(5), key="k") | kwargs
    with pytest.raises(ValueError, match=message):
        latent_scatter(**args)


def test_scatter_result_is_cleaned_whatever_the_browser_sent():
    raw = {"selection": [3, 3, 1, -1, 99, "x", 2.0, 2.5, True, None], "point": [1, 2]}
    assert _clean_result(raw, 10, "select", False) == {"selection": [1, 2, 3], "point": None}
    assert _clean_result(raw, 10, "select", True) == {"selection": [], "point": None}  # points changed
    assert _clean_result(raw, 10, "probe", False) == {"selection": [], "point": (1.0, 2.0)}
    for bad in (None, [1], ["a", 2], [float("nan"), 0], "1,2", {"x": 1}):
        assert _clean_result({"point": bad}, 10, "probe", False)["point"] is None
    assert _clean_result({"selection": "0,1"}, 10, "select", False)["selection"] == []


# ------------------------------------------------------------------------------------------------
# in a real browser
# ------------------------------------------------------------------------------------------------

def running_components_app(timeout: float = 90.0):
    """The small components app (tests/apps/components_app.py), started like the dashboard."""
    from tests.browser import running_app

    return running_app(timeout=timeout, app=APP)


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, FrameLog, chromium_path

    with running_components_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1700})
        page.frames_seen = FrameLog(page)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url, wait_until="domcontentloaded")
        page.locator("[data-testid=sketchpad-canvas]").wait_for(timeout=60_000)
        page.locator('[data-testid=latent-scatter][data-key="sel"][data-shown="2000"]').wait_for(timeout=30_000)
        page.locator('[data-testid=latent-scatter][data-key="probe"][data-shown="500"]').wait_for(timeout=30_000)
        yield page
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def read(page, name: str) -> dict:
    return json.loads(page.locator(f".st-key-out_{name}").inner_text())


def wait_for(page, name: str, predicate, timeout: float = 15.0) -> dict:
    """Wait until the fragment's output satisfies ``predicate(output)``, re-reading it each time the
    page changes it; return it (fail on timeout)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.time() + timeout
    while True:
        text = page.locator(f".st-key-out_{name}").inner_text()
        seen = json.loads(text)
        if predicate(seen):
            return seen
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"{name}: condition not met within {timeout} s; last output {seen}")
        try:
            page.wait_for_function("([selector, old]) => { const e = document.querySelector(selector); "
                                   "return !e || e.innerText !== old; }",
                                   arg=[f".st-key-out_{name}", text], timeout=left * 1000)
        except PlaywrightTimeout:
            raise AssertionError(f"{name}: condition not met within {timeout} s; last output {seen}") from None


def settled(page, name: str, mark: int | None = None, timeout: float = 30.0) -> dict:
    """The fragment's output once the gesture's last run is drawn: with ``mark`` (the page's frame count
    taken before the gesture's last send, e.g. the pen up) after a script run started past it has
    finished; then once no run is in progress."""
    if mark is not None:
        page.frames_seen.wait_for_runs(mark, timeout=timeout)
    app_idle(page, timeout=timeout)
    return read(page, name)


def sent(page, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-sent"))


def white_pixels(page) -> int:
    return page.evaluate("""() => {
        const c = document.querySelector('[data-testid=sketchpad-canvas]');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n; }""")


def pad_box(page) -> dict:
    return page.locator("[data-testid=sketchpad-canvas]").bounding_box()


def quick_stroke(page, points) -> int:
    """Draw one stroke through ``points`` (fractions of the pad); return the page's frame mark taken
    just before the pen went up (for :func:`settled`)."""
    box = pad_box(page)
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=3)
    mark = page.frames_seen.mark()
    page.mouse.up()
    return mark


def to_screen(page, key: str, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of the data point (x, y) on scatter ``key`` (from its data-plot/data-view)."""
    canvas = page.locator(f'[data-testid=latent-scatter][data-key="{key}"] [data-testid=scatter-canvas]')
    left, top, right, bottom = map(float, canvas.get_attribute("data-plot").split(","))
    x0, x1, y0, y1 = map(float, canvas.get_attribute("data-view").split(","))
    box = canvas.bounding_box()
    return (box["x"] + left + (x - x0) / (x1 - x0) * (right - left),
            box["y"] + bottom - (y - y0) / (y1 - y0) * (bottom - top))


def unchanged_elsewhere(page, before: dict, moved: str) -> None:
    for name, seen in before.items():
        now = read(page, name)
        assert now["full"] == seen["full"], f"the whole script reran (full {seen['full']} -> {now['full']})"
        if name != moved:
            assert now["runs"] == seen["runs"], f"fragment {name} reran too"


def snapshot(page) -> dict:
    return {name: read(page, name) for name in ("pad", "sel", "probe")}


@pytest.mark.browser
def test_browser_a_stroke_sends_ink_and_reruns_only_its_fragment(page):
    before = snapshot(page)
    assert before["pad"]["ink"] is None
    mark = quick_stroke(page, [(0.5, 0.15), (0.5, 0.5), (0.48, 0.85)])
    wait_for(page, "pad", lambda o: o["ink"] and o["ink"] > 500)
    seen = settled(page, "pad", mark)
    assert 0 < seen["chars"] < 30_000  # one stroke: about 6 KB of PNG data URL
    assert seen["shape"] == [280, 280] and seen["dtype"] == "float32" and seen["max"] == pytest.approx(1.0)
    unchanged_elsewhere(page, before, "pad")
    assert page.locator("[data-testid=sketchpad]").get_attribute("data-strokes") == "1"


@pytest.mark.browser
def test_browser_a_slow_stroke_streams_at_least_5_updates_per_second(page):
    box = pad_box(page)
    app_idle(page)  # nothing of the last gesture still running
    runs0, sent0 = read(page, "pad")["runs"], sent(page, "[data-testid=sketchpad]")
    x, y = box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"]
    page.mouse.move(x, y)
    page.mouse.down()
    start = time.time()
    moves = 0
    while (elapsed := time.time() - start) < 1.5:  # 1.5 s of mouse moves, a slow 'Z'-like path
        t = elapsed / 1.5
        page.mouse.move(x + 0.6 * box["width"] * t, y + 0.4 * box["height"] * abs(np.sin(3 * t)))
        moves += 1
        next_frame(page, 1)  # one move per drawn frame, as a mouse reports them
    duration = time.time() - start
    sent_down = sent(page, "[data-testid=sketchpad]") - sent0
    received_down = read(page, "pad")["runs"] - runs0
    mark = page.frames_seen.mark()
    page.mouse.up()
    final = settled(page, "pad", mark)  # the pen-up send and its rerun
    received = final["runs"] - runs0
    sent_total = sent(page, "[data-testid=sketchpad]") - sent0
    print(f"slow stroke: {duration:.2f} s, {moves} mouse moves, {sent_down} sends while down "
          f"({sent_down / duration:.1f}/s), {sent_total} in all; {received_down} fragment reruns seen while down, "
          f"{received} in all ({received / duration:.1f}/s)")
    assert sent_down / duration >= 5, f"only {sent_down} sends in {duration:.2f} s"
    assert sent_down / duration <= 1000 / 150 + 1.5, "the 150 ms throttle was not kept"
    assert received / duration >= 5, f"only {received} fragment reruns in {duration:.2f} s"
    assert final["full"] == 1


@pytest.mark.browser
def test_browser_brush_change_and_reruns_keep_the_drawing(page):
    strokes = page.locator("[data-testid=sketchpad]").get_attribute("data-strokes")
    pixels = white_pixels(page)
    assert int(strokes) >= 1 and pixels > 1000
    ink = read(page, "pad")["ink"]
    page.get_by_role("button", name="Thicker brush").click()  # a fragment rerun with new data
    wait_for(page, "pad", lambda o: o["brush"] == 32)
    app_idle(page)
    next_frame(page)  # the component has been given the new data and redrawn
    assert page.locator("[data-testid=sketchpad]").get_attribute("data-strokes") == strokes
    assert white_pixels(page) == pixels
    assert read(page, "pad")["ink"] == ink


@pytest.mark.browser
def test_browser_undo_then_clear_empties_the_sketchpad(page):
    before = read(page, "pad")["ink"]
    mark = quick_stroke(page, [(0.1, 0.9), (0.9, 0.9)])
    wait_for(page, "pad", lambda o: o["ink"] > before + 100)
    more = settled(page, "pad", mark)["ink"]
    page.get_by_role("button", name="Undo").click()
    wait_for(page, "pad", lambda o: o["ink"] < more - 100)
    before_clear = snapshot(page)
    page.get_by_role("button", name="Wipe").click()
    wait_for(page, "pad", lambda o: o["ink"] is None)
    assert page.locator("[data-testid=sketchpad]").get_attribute("data-strokes") == "0"
    assert white_pixels(page) == 0
    unchanged_elsewhere(page, before_clear, "pad")


@pytest.mark.browser
def test_browser_box_selection_returns_the_points_inside(page):
    before = snapshot(page)
    page.locator('[data-testid=latent-scatter][data-key="sel"]').scroll_into_view_if_needed()
    # lattice points (i % 40, i // 40): the box [10.5, 20.5] × [5.5, 15.5] holds 10 × 10 of them
    x0, y0 = to_screen(page, "sel", 10.5, 15.5)
    x1, y1 = to_screen(page, "sel", 20.5, 5.5)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    page.mouse.move(x1, y1, steps=3)
    page.mouse.up()
    seen = wait_for(page, "sel", lambda o: o["n"] > 0)
    assert seen["n"] == 100 and seen["first"] == [6 * 40 + 11, 6 * 40 + 12, 6 * 40 + 13]
    assert seen["point"] is None
    status = page.locator('[data-testid=latent-scatter][data-key="sel"] [data-testid=scatter-status]')
    assert status.inner_text().startswith("100 of 2,000 points selected")
    unchanged_elsewhere(page, before, "sel")
    page.mouse.dblclick((x0 + x1) / 2, (y0 + y1) / 2)
    wait_for(page, "sel", lambda o: o["n"] == 0)


@pytest.mark.browser
def test_browser_hover_shows_the_points_image(page):
    tooltip = page.locator('[data-testid=latent-scatter][data-key="sel"] [data-testid=scatter-tooltip]')
    page.mouse.move(*to_screen(page, "sel", 34, 30))  # point 30 * 40 + 34 = 1234, digit 4
    tooltip.wait_for(state="visible", timeout=5_000)
    assert tooltip.get_attribute("data-index") == "1234"
    assert tooltip.get_attribute("data-image") == "1"
    assert "digit 4" in tooltip.inner_text() and "#11234" in tooltip.inner_text()
    bright = tooltip.locator("canvas").evaluate("""c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 100) n++; return n; }""")
    assert bright >= 20 * 4 * 9  # the 20 × 4 bar of the thumbnail, drawn ×3
    page.mouse.move(5, 5)
    tooltip.wait_for(state="hidden", timeout=5_000)


@pytest.mark.browser
def test_browser_probe_click_and_drag_report_data_coordinates(page):
    before = snapshot(page)
    root = '[data-testid=latent-scatter][data-key="probe"]'
    page.locator(root).scroll_into_view_if_needed()
    canvas = page.locator(f"{root} [data-testid=scatter-canvas]")
    left, top, right, bottom = map(float, canvas.get_attribute("data-plot").split(","))
    x0, x1, y0, y1 = map(float, canvas.get_attribute("data-view").split(","))
    assert x1 > 2.5 and y0 < -2.5  # the view includes the marker at (2.5, -2.5)
    tolerance = 1.5 * max((x1 - x0) / (right - left), (y1 - y0) / (bottom - top))  # 1.5 px
    page.mouse.click(*to_screen(page, "probe", 1.0, -0.5))
    seen = wait_for(page, "probe", lambda o: o["point"] is not None)
    assert seen["point"][0] == pytest.approx(1.0, abs=tolerance)
    assert seen["point"][1] == pytest.approx(-0.5, abs=tolerance)
    assert seen["n"] == 0
    unchanged_elsewhere(page, before, "probe")
    # a drag streams points (about every 60 ms) and ends with the release point
    sent0 = sent(page, root)
    page.mouse.move(*to_screen(page, "probe", -1.5, 1.5))
    page.mouse.down()
    start = time.time()
    while (elapsed := time.time() - start) < 0.6:
        page.mouse.move(*to_screen(page, "probe", -1.5 + 2 * elapsed / 0.6, 1.5 - elapsed / 0.6))
        next_frame(page, 1)  # one move per drawn frame, as a mouse reports them
    page.mouse.move(*to_screen(page, "probe", 0.5, 0.5))
    page.mouse.up()
    seen = wait_for(page, "probe", lambda o: abs(o["point"][0] - 0.5) < tolerance and abs(o["point"][1] - 0.5) < tolerance)
    assert sent(page, root) - sent0 >= 4
    assert seen["full"] == before["probe"]["full"]


@pytest.mark.browser
def test_browser_a_full_rerun_keeps_drawings_and_selections(page):
    mark = quick_stroke(page, [(0.3, 0.3), (0.7, 0.7)])
    wait_for(page, "pad", lambda o: o["ink"] is not None)
    ink = settled(page, "pad", mark)["ink"]
    x0, y0 = to_screen(page, "sel", -0.5, 49.5)
    x1, y1 = to_screen(page, "sel", 4.5, 45.5)  # 5 columns × 4 rows
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    wait_for(page, "sel", lambda o: o["n"] == 20)
    full = read(page, "pad")["full"]
    mark = page.frames_seen.mark()
    page.get_by_role("button", name="Rerun the whole script").click()
    wait_for(page, "pad", lambda o: o["full"] == full + 1)
    assert settled(page, "pad", mark)["ink"] == ink
    assert page.locator("[data-testid=sketchpad]").get_attribute("data-strokes") == "1"
    assert white_pixels(page) > 1000
    assert read(page, "sel")["n"] == 20
    root = page.locator('[data-testid=latent-scatter][data-key="sel"]')
    assert root.get_attribute("data-selected") == "20"


@pytest.mark.browser
def test_browser_the_drawing_comes_back_after_the_sketchpad_was_hidden(page):
    """Hidden (not rendered) then shown again: a new component DOM, the same strokes, sent again."""
    ink = settled(page, "pad")["ink"]
    assert ink
    page.get_by_text("Hide the sketchpad").click()
    wait_for(page, "pad", lambda o: o.get("hidden"))
    page.locator("[data-testid=sketchpad-canvas]").wait_for(state="detached", timeout=5_000)
    page.get_by_text("Hide the sketchpad").click()
    page.locator("[data-testid=sketchpad-canvas]").wait_for(timeout=5_000)
    seen = wait_for(page, "pad", lambda o: not o.get("hidden") and o["ink"] == ink)
    assert seen["full"] == read(page, "sel")["full"]
    assert white_pixels(page) > 1000


# ------------------------------------------------------------------------------------------------
# text from files, escaped, as a browser shows it
# ------------------------------------------------------------------------------------------------

#: a markdown link, an HTML tag, a blank line, bold, a bare address, a Streamlit colour directive
FILE_TEXT = "[click](http://evil.example) <img src=x onerror=alert(1)>\n\n**loud** www.evil.example :red[red]"
ESCAPE_APP = f"""
import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard.common import html_text, plain

TEXT = {FILE_TEXT!r}
st.multiselect("runs", [TEXT, "other"], default=[TEXT], key="picker")  # options are plain text: as written
with st.container(key="md"):
    st.markdown(f"**{{plain(TEXT)}}**")
with st.container(key="md_html"):
    st.markdown(f"**{{plain(TEXT)}}**<br>after", unsafe_allow_html=True)
with st.container(key="caption"):
    st.caption(f"**{{plain(TEXT)}}** cannot reconstruct")
with st.container(key="button"):
    st.button(f"Add {{plain(TEXT)}}", key="add")
with st.container(key="radio"):
    st.radio("mode", [0, 1], format_func=lambda i: plain(TEXT) if i == 0 else "other", key="mode")
with st.container(key="html_block"):
    st.markdown(f'<div class="dl-cards"><div><b>{{html_text(TEXT)}}</b></div></div>', unsafe_allow_html=True)
with st.container(key="html_inline"):
    st.markdown(f"**{{html_text(TEXT)}}**<br>after", unsafe_allow_html=True)
with st.container(key="html"):
    st.html(f'<table><tr data-run="{{html_text(TEXT)}}"><td>{{html_text(TEXT)}}</td></tr></table>')
with st.container(key="chart"):
    st.plotly_chart(px.line(pd.DataFrame({{"x": [0, 1], "y": [0, 1], "run": html_text(TEXT)}}), x="x", y="y",
                            color="run"), key="figure")
with st.container(key="control"):  # unescaped: the link the others must not have
    st.markdown(f"**{{TEXT}}**")
"""


def test_browser_escaped_file_text_shows_as_words_not_links_or_html(page, tmp_path):
    """What ``plain`` and ``html_text`` give, in each place the dashboard puts text from files: the
    browser shows the text's words and makes no link, no image, no formatting of them. (A second
    app, in a new tab of the module's browser.)"""
    from tests.browser import running_app

    app = tmp_path / "escape_app.py"
    app.write_text(ESCAPE_APP, encoding="utf-8")
    expected = " ".join(FILE_TEXT.split())
    with running_app(app=app) as url:
        page = page.context.browser.new_page(viewport={"width": 1100, "height": 2000})
        try:
            page.goto(url, wait_until="domcontentloaded")
            page.locator(".st-key-chart .legendtext").wait_for(timeout=60_000)
            page.locator(".st-key-control a").first.wait_for(timeout=10_000)

            def shown(selector: str) -> str:
                return " ".join(page.locator(selector).first.inner_text().replace("\u200b", "").split())

            control = page.locator(".st-key-control").first  # unescaped: what the escaping prevents
            assert control.locator("a[href*=evil]").count() >= 1 and control.get_by_text("loud", exact=True).count() == 1
            for key in ("md", "md_html", "caption", "button", "radio", "html_block", "html_inline", "html"):
                box = f".st-key-{key}"
                # the words, and no asterisk more: the page's own bold around them held (a blank line breaks it)
                assert expected in shown(box) and shown(box).count("*") == FILE_TEXT.count("*"), (key, shown(box))
                made = page.locator(box).first.evaluate("""(root) => [
                    root.querySelectorAll('a, img, .stMarkdownColoredText').length,
                    [...root.querySelectorAll('*')].filter((e) => e.textContent.trim() === 'loud').length]""")
                assert made == [0, 0], (key, made, page.locator(box).first.inner_html())  # links, images, colour; bold
            assert page.locator(".st-key-html tr").first.get_attribute("data-run").replace("\u200b", "") == \
                FILE_TEXT.replace("\n", " ")
            legend = " ".join(page.locator(".st-key-chart .legendtext").first.text_content().replace("\u200b", "").split())
            assert legend == expected and page.locator(".st-key-chart a").count() == 0
            assert expected in shown(".st-key-picker") and page.locator(".st-key-picker a, .st-key-picker img").count() == 0
        finally:
            page.close()
