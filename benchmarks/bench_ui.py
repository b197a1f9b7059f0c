"""Latency benchmark of the dashboard's gestures in a real headless Chromium (not a test).

    python -m benchmarks.bench_ui                              # every gesture, 3 rounds (~10 min on 2 cores)
    python -m benchmarks.bench_ui --rounds 1 --gestures cold-start draw
    python -m benchmarks.bench_ui --list                       # the gesture names

Each gesture is timed from the gesture (a launch, a navigation, a pen up, a key press, a click) to
Streamlit's ``script_finished`` of the run it started (read from the page's websocket) plus a quiet
DOM (no stale element, every image loaded, for 0.4 s): see benchmarks/_bench.py. Results: median, p95,
n, min and max per gesture, written to ``benchmarks/results/ui.json`` and ``benchmarks/results/ui.md`` (``--out``).

The app runs as ``streamlit run dashboard/app.py --server.headless true --server.fileWatcherType none``
with ``DIGITLAB_CACHE`` in a fresh temporary folder (``--keep-cache``: the usual cache). A gesture
that fails is recorded with its error message; the others still run. Each gesture is a small
function below (``gesture_*``): fix its selectors there when the dashboard changes.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from benchmarks import _bench as B
from scripts._cli import positive_int

DEFAULT_RUNS_8 = ("cae-z8-s0", "cae-z16-s0", "cae-z32-s0", "cae-z64-s0",
                  "cvae-z8-s0", "cvae-z16-s0", "cvae-z32-s0", "cvae-z64-s0")
#: sidebar titles of the pages visited by the page-switch gesture (in this order, then back to the first)
SWITCH_PAGES = ("Overview", "Draw a digit", "Latent sliders", "Latent space", "Generation grids")
GESTURE_TIMEOUT = 180.0
SLOW_STROKE_S = 2.0
UMAP_TIMEOUT = 420.0


class Bench:
    """State shared by the gestures: options, the browser, the main server, the results."""

    def __init__(self, args, playwright):
        self.args = args
        self.playwright = playwright
        self.browser = B.launch_browser(playwright)
        self.tmp = Path(tempfile.mkdtemp(prefix="digitlab-bench-"))
        self.results: dict[str, B.Samples] = {}
        self.trials: list[dict[str, Any]] = []
        self._app: B.App | None = None
        #: added to every result's name while a gesture runs under a condition (e.g. " while a training runs")
        self.suffix = ""

    # --- servers ---
    def cache_dir(self) -> str | None:
        """A fresh cache folder, or None (the environment's) with --keep-cache."""
        if self.args.keep_cache:
            return None
        return tempfile.mkdtemp(prefix="cache-", dir=self.tmp)

    def start_app(self) -> B.App:
        log = self.tmp / f"streamlit-{len(list(self.tmp.glob('streamlit-*.log')))}.log"
        return B.App(port=self.args.port, cache_dir=self.cache_dir(), log_path=str(log))

    @property
    def app(self) -> B.App:
        """The shared server of the warm gestures (started on first need, kept running)."""
        if self._app is None or self._app.proc.poll() is not None:
            self._app = self.start_app()
            self._app.wait_healthy()
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.stop()
        self.browser.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- results ---
    def samples(self, name: str) -> B.Samples:
        name += self.suffix
        if name not in self.results:
            self.results[name] = B.Samples(name)
        return self.results[name]

    def record(self, name: str, fn: Callable[[], float | None]) -> float | None:
        """Time one trial: ``fn()`` returns seconds (or None to skip); an exception is recorded."""
        s = self.samples(name)
        name = s.name
        _LAST_FINISH.clear()
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - a failed trial is data, not the end of the run
            s.errors.append(_message(exc))
            if self.args.verbose:
                traceback.print_exc()
            return None
        if value is not None:
            s.values.append(value)
            if _LAST_FINISH:
                s.to_finished.append(_LAST_FINISH[-1])
            if self.args.verbose:
                print(f"  {name}: {value:.3f} s", flush=True)
        return value

    def new_page(self, path: str = "/", timeout: float = GESTURE_TIMEOUT):
        """A new session (fresh browser context) on the shared server, opened at ``path`` and settled."""
        url = self.app.url + path
        page, listener = B.new_page(self.browser)
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
        return page, listener, settle(page, listener, t0, timeout)


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:400]


def check_page(page) -> None:
    """Raise when the page shows a Python exception (the gesture did not work)."""
    exc = page.locator('[data-testid="stException"]')
    if exc.count():
        text = exc.first.inner_text().strip().splitlines()
        raise RuntimeError("the page shows an exception: " + (text[0] if text else "?"))


#: seconds from the latest settled gesture to its script_finished (before the DOM went quiet)
_LAST_FINISH: list[float] = []


def _page_text(page, limit: int = 300) -> str:
    """The main area's text, on one line (for error messages)."""
    try:
        return " ".join(page.locator('[data-testid="stMain"]').inner_text(timeout=5_000).split())[:limit]
    except Exception:  # noqa: BLE001
        return "(unreadable)"


def settle(page, listener, t0: float, timeout: float = GESTURE_TIMEOUT) -> float:
    seconds, event = B.wait_settled(page, listener, t0, timeout)
    _LAST_FINISH.append(event.t - t0)
    check_page(page)
    return seconds


def close_page(page) -> None:
    try:
        page.context.close()
    except Exception:  # noqa: BLE001
        pass


# =============================================================================================
# gestures
# =============================================================================================

def gesture_cold_start(bench: Bench) -> None:
    """Process launch → first page (Overview) fully drawn, ``--launches`` times, each on a new server."""
    for i in range(bench.args.launches):
        app_box: dict[str, Any] = {}

        def one() -> float:
            page, listener = B.new_page(bench.browser)  # the browser is ready before the launch
            app = bench.start_app()
            app_box["app"] = app
            try:
                healthy = app.wait_healthy()
                bench.samples("cold start: server answers").values.append(healthy - app.t_launch)
                page.goto(app.url + "/", wait_until="commit", timeout=GESTURE_TIMEOUT * 1000)
                seconds = settle(page, listener, app.t_launch)
                return seconds
            finally:
                close_page(page)
                app.stop()

        if bench.args.verbose:
            print(f"cold start {i + 1}/{bench.args.launches}", flush=True)
        bench.record("cold start", one)


def gesture_first_page(bench: Bench) -> None:
    """A new session (new browser context) opening / on a server already running and warm."""
    page, _, _ = bench.new_page("/")  # warm the server once, not timed
    close_page(page)
    for _ in range(bench.args.rounds * 3):
        def one() -> float:
            page, listener, seconds = bench.new_page("/")
            close_page(page)
            return seconds

        bench.record("first page, new session on a running server", one)

    # the same, in a new tab of a browser that has opened the app before (its HTTP cache holds the
    # frontend's scripts): a reload, a second tab, a student coming back
    context = bench.browser.new_context(viewport=B.VIEWPORT)
    try:
        context.new_page().goto(bench.app.url + "/", wait_until="load")  # fills the cache, not timed
        for _ in range(bench.args.rounds * 3):
            def tab() -> float:
                page = context.new_page()
                listener = B.Listener(page)
                t0 = time.perf_counter()
                try:
                    page.goto(bench.app.url + "/", wait_until="commit", timeout=GESTURE_TIMEOUT * 1000)
                    return settle(page, listener, t0, GESTURE_TIMEOUT)
                finally:
                    page.close()

            bench.record("first page, new session in a new tab (browser cache warm)", tab)
    finally:
        context.close()


def _ready_canvas(page, timeout: float = 60.0) -> dict:
    """Wait for the canvas (and the sketchpad's handlers, when it says so); its bounding box."""
    canvas = B.canvas_locator(page)
    try:
        canvas.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as exc:  # noqa: BLE001 - say what the page showed instead
        raise RuntimeError(f"no drawing canvas within {timeout:.0f} s; the page shows: {_page_text(page)}") from exc
    pad = page.locator('[data-testid="sketchpad"]')
    if pad.count():
        page.wait_for_function("() => { const p = document.querySelector('[data-testid=\"sketchpad\"]');"
                               " return !p || p.dataset.key !== undefined; }", timeout=timeout * 1000)
        page.wait_for_timeout(200)
    else:
        page.wait_for_timeout(1500)  # a component without hooks: let it attach its handlers
    box = canvas.bounding_box()
    if not box or box["width"] < 50:
        raise RuntimeError(f"the canvas is not drawable (bounding box {box})")
    return box


def _clear(bench: Bench, page, listener) -> None:
    def one() -> float:
        button = B.clear_button(page)
        t0 = time.perf_counter()
        button.click()
        seconds = settle(page, listener, t0)
        left = B.read_predictions(page)
        if left:
            raise RuntimeError(f"predictions still shown after Clear: {left}")
        return seconds

    bench.record("clear → empty canvas", one)


def _shown_digit(predictions: dict[str, str]) -> str | None:
    """The digit the page shows: the judge's card if there is one, else the first card's."""
    for name, value in predictions.items():
        if name.lower().startswith("judge"):
            return value
    return next(iter(predictions.values()), None)


def _draw_session(bench: Bench, label: str, runs: list[str] | None) -> None:
    name = f"pen up → predictions ({label})"
    path = "/draw" + (("?runs=" + ",".join(runs)) if runs else "")
    page, listener, _ = bench.new_page(path)
    try:
        box = _ready_canvas(page)
        strokes = B.digit_strokes()
        # one digit first, reported apart: the page's models may still be loading
        bench.record(f"first pen up on a new page ({label})",
                     lambda: _draw_timed(page, listener, box, strokes[1]))
        _clear(bench, page, listener)
        for r in range(bench.args.rounds):
            for digit in range(10):
                trial: dict[str, Any] = {"gesture": name + bench.suffix, "round": r, "digit": digit}

                def one() -> float:
                    seconds = _draw_timed(page, listener, box, strokes[digit])
                    shown = B.read_predictions(page)
                    trial["predictions"] = shown
                    trial["shown"] = _shown_digit(shown)
                    trial["correct"] = trial["shown"] == str(digit)
                    trial["all_runs_correct"] = bool(shown) and all(v == str(digit) for v in shown.values())
                    return seconds

                trial["seconds"] = bench.record(name, one)
                if bench.samples(name).errors and trial["seconds"] is None:
                    trial["error"] = bench.samples(name).errors[-1]
                bench.trials.append(trial)
                _clear(bench, page, listener)
        done = [t for t in bench.trials if t["gesture"] == name + bench.suffix and t.get("seconds") is not None]
        s = bench.samples(name)
        s.extra["shown = drawn"] = f"{sum(t['correct'] for t in done)}/{len(done)}"
        s.extra["every run = drawn"] = f"{sum(t['all_runs_correct'] for t in done)}/{len(done)}"
        s.extra["runs"] = ",".join(runs) if runs else "default"
    finally:
        close_page(page)


def _draw_timed(page, listener, box: dict, strokes: list[list[B.Point]]) -> float:
    """Draw a digit; seconds from the pen up of its last stroke to the predictions drawn."""
    if len(strokes) > 1:
        B.draw_strokes(page, box, strokes[:-1])
    _stroke_without_up(page, box, strokes[-1])
    page.evaluate("0")  # deliver the websocket frames received so far, so they are stamped before t0
    t0 = time.perf_counter()
    page.mouse.up()
    return settle(page, listener, t0)


def _stroke_without_up(page, box: dict, points: list[B.Point], steps: int = 2, seconds: float = 0.0) -> None:
    """Pen down and move through ``points``; with ``seconds``, paced so the stroke lasts that long."""
    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    start = time.perf_counter()
    for i, p in enumerate(points[1:], 1):
        page.mouse.move(*at(p), steps=steps)
        if seconds:
            ahead = start + seconds * i / (len(points) - 1) - time.perf_counter()
            if ahead > 0.001:
                page.wait_for_timeout(ahead * 1000)


def gesture_draw(bench: Bench) -> None:
    """Draw each digit 0–9 on /draw with the default runs, clearing between digits."""
    _draw_session(bench, "default runs", None)


def gesture_draw_8(bench: Bench) -> None:
    """The same with 8 runs chosen through the address (?runs=)."""
    _draw_session(bench, "8 runs", bench.args.runs_8)


#: in the page: count, every 25 ms, changes of what the Draw page shows for the drawing (the 28×28
#: preview's src, else the prediction cards' text) until window.__dlWatch.stop is set
WATCH_JS = """() => {
  const read = () => {
    const img = document.querySelector('img[alt="what the models see"]');
    const cards = Array.from(document.querySelectorAll('.dl-card .dl-pred, [data-testid="stMetricValue"]'));
    return (img ? img.src.length + ':' + img.src.slice(-64) : '') + '|' + cards.map(c => c.innerText).join(',');
  };
  const watch = {changes: 0, last: read(), stop: false};
  window.__dlWatch = watch;
  const tick = () => {
    if (watch.stop) return;
    const now = read();
    if (now !== watch.last) { watch.changes += 1; watch.last = now; }
    setTimeout(tick, 25);
  };
  tick();
}"""
STOP_WATCH_JS = "() => { const w = window.__dlWatch; if (!w) return -1; w.stop = true; return w.changes; }"


def gesture_live(bench: Bench) -> None:
    """During a slow (~2 s) stroke, how many times per second the predictions are refreshed."""
    name = "updates while drawing"
    page, listener, _ = bench.new_page("/draw")
    try:
        box = _ready_canvas(page)
        points = B.slow_stroke()
        started_rates, cut_rates, shown_rates, durations = [], [], [], []
        for _ in range(bench.args.rounds):
            def one() -> float:
                page.evaluate(WATCH_JS)
                t_down = time.perf_counter()
                _stroke_without_up(page, box, points, steps=1, seconds=SLOW_STROKE_S)
                page.evaluate("0")
                t_up = time.perf_counter()
                shown = page.evaluate(STOP_WATCH_JS)
                page.mouse.up()
                events = listener.snapshot()
                during = [e for e in events if t_down <= e.t <= t_up]
                duration = t_up - t_down
                finished = B.finished_count(events, t_down, t_up)
                started_rates.append(sum(e.kind == "new_session" for e in during) / duration)
                cut_rates.append(sum(e.status == "FINISHED_EARLY_FOR_RERUN" for e in during) / duration)
                shown_rates.append(shown / duration if shown >= 0 else math.nan)
                durations.append(duration)
                after = bench.samples("pen up after a slow stroke → predictions")
                after.values.append(settle(page, listener, t_up))
                after.to_finished.append(_LAST_FINISH.pop())
                return finished / duration

            bench.record(name, one)
            _clear(bench, page, listener)

        def mean(values):
            values = [v for v in values if not math.isnan(v)]
            return round(sum(values) / len(values), 2) if values else None

        s = bench.samples(name)
        s.extra["unit"] = "runs finished per second of stroke (script_finished), not seconds"
        s.extra["runs started/s"] = mean(started_rates)
        s.extra["runs cut short by the next/s"] = mean(cut_rates)
        s.extra["preview or predictions changed on screen/s"] = mean(shown_rates)
        s.extra["stroke seconds"] = mean(durations)
    finally:
        close_page(page)


#: a slider's thumb: the ARIA slider role (baseweb), or the range input react-aria renders (Streamlit 1.67)
THUMB = "[role='slider'], input[type='range']"


def _slider(page, key: str = "sl_0"):
    """The thumb of the slider with widget key ``key`` (fallback: the first slider on the page)."""
    loc = page.locator(f".st-key-{key}").locator(THUMB)
    if loc.count():
        return loc.first
    return page.locator("[data-testid='stSlider']").locator(THUMB).first


def _slider_value(thumb) -> float:
    value = thumb.evaluate("e => e.getAttribute('aria-valuenow') ?? e.value")
    if value in (None, ""):
        raise RuntimeError("the slider thumb has no value (aria-valuenow or value)")
    return float(value)


_POSITION = re.compile(r"\b(z|PC)1 ([+-]\d+\.\d)σ")


def _shown_slider_value(page) -> float | None:
    """The first slider's offset as the decoded images' caption states it ("z1 +0.3σ"), or None."""
    text = page.locator('[data-testid="stMain"]').inner_text()
    match = _POSITION.search(text)
    return float(match.group(2)) if match else None


def _slider_page(bench: Bench):
    page, listener, _ = bench.new_page("/latent_explorer")
    thumb = _slider(page)
    try:
        thumb.wait_for(state="attached", timeout=60_000)
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"no latent slider (.st-key-sl_0) within 60 s; the page shows: {_page_text(page)}") from exc
    return page, listener, thumb


def _press(page, thumb, times: int) -> float:
    """Focus the thumb, press an arrow ``times`` times (towards the middle); t0 of the last press."""
    key = "ArrowLeft" if _slider_value(thumb) > 1.0 else "ArrowRight"
    thumb.focus()
    for _ in range(times - 1):
        page.keyboard.press(key)
    page.evaluate("0")
    t0 = time.perf_counter()
    page.keyboard.press(key)
    return t0


def gesture_slider(bench: Bench) -> None:
    """One ArrowRight on the first z-slider of /latent_explorer → decoded images."""
    page, listener, thumb = _slider_page(bench)
    try:
        for _ in range(bench.args.rounds * 5):
            def one() -> float:
                before = _slider_value(thumb)
                t0 = _press(page, thumb, 1)
                seconds = settle(page, listener, t0)
                if _slider_value(thumb) == before:
                    raise RuntimeError("the key press did not move the slider")
                return seconds

            bench.record("slider step → decoded images", one)
    finally:
        close_page(page)


def gesture_rapid_slider(bench: Bench) -> None:
    """Ten quick presses; time from the last press until quiet; the shown value must be the latest."""
    name = "rapid slider steps (10 presses, from the last)"
    page, listener, thumb = _slider_page(bench)
    latest = []
    try:
        for _ in range(bench.args.rounds * 2):
            def one() -> float:
                t0 = _press(page, thumb, 10)
                seconds = settle(page, listener, t0)
                value, shown = _slider_value(thumb), _shown_slider_value(page)
                latest.append(shown is not None and abs(shown - value) < 0.051)
                if shown is None:
                    raise RuntimeError("no 'z1 ±x.xσ' caption found to compare with the slider")
                return seconds

            bench.record(name, one)
        bench.samples(name).extra["latest shown"] = (
            ("yes" if all(latest) else "no") + f" ({sum(latest)}/{len(latest)})") if latest else None
    finally:
        close_page(page)


def gesture_page_switch(bench: Bench) -> None:
    """Sidebar links between pages already visited (each page visited once first, not timed)."""
    name = "page switch (warm)"
    page, listener, _ = bench.new_page("/")
    per_page: dict[str, list[float]] = {}
    try:
        def go(title: str) -> float:
            link = B.sidebar_link(page, title)
            link.wait_for(state="visible", timeout=30_000)
            page.evaluate("0")
            t0 = time.perf_counter()
            link.click()
            return settle(page, listener, t0)

        for title in SWITCH_PAGES[1:] + SWITCH_PAGES[:1]:  # visit each once
            bench.record("page switch (first visit)", lambda: go(title))
        for _ in range(bench.args.rounds):
            for title in SWITCH_PAGES[1:] + SWITCH_PAGES[:1]:
                value = bench.record(name, lambda: go(title))
                if value is not None:
                    per_page.setdefault(title, []).append(value)
        bench.samples(name).extra["median by page"] = {
            t: round(B.percentile(v, 50), 3) for t, v in per_page.items()}
    finally:
        close_page(page)


UMAP_ROW = "first latent-space view (UMAP chosen next)"


#: seconds a user spends on the Overview before opening the Latent space page (the app's warm-up runs)
READING_S = 3.0


def gesture_latent_space(bench: Bench) -> None:
    """The Latent space page's first view on a new server with a fresh cache (PCA, the default), then
    UMAP chosen; twice per round: opened as the very first page, and opened from the sidebar after
    the Overview (the way a user arrives, :data:`READING_S` seconds later)."""
    sources: list[str] = []
    for _, via_overview in ((r, v) for r in range(bench.args.rounds) for v in (False, True)):
        app = bench.start_app()
        page, listener = B.new_page(bench.browser)
        try:
            app.wait_healthy()

            def pca() -> float:
                if via_overview:
                    page.goto(app.url + "/", wait_until="commit", timeout=GESTURE_TIMEOUT * 1000)
                    settle(page, listener, time.perf_counter())
                    page.wait_for_timeout(READING_S * 1000)
                    link = B.sidebar_link(page, "Latent space")
                    t0 = time.perf_counter()
                    link.click()
                else:
                    t0 = time.perf_counter()
                    page.goto(app.url + "/latent_space", wait_until="commit", timeout=GESTURE_TIMEOUT * 1000)
                return settle(page, listener, t0)

            row = ("first latent-space view (PCA, from the Overview after 3 s, fresh server)" if via_overview
                   else "first latent-space view (PCA, as the first page of a fresh server)")
            if bench.record(row, pca) is None:
                continue

            def umap() -> float:
                group = page.locator(".st-key-lat_method")
                option = group.get_by_text("UMAP", exact=True) if group.count() else page.get_by_text("UMAP", exact=True)
                option.first.wait_for(state="visible", timeout=30_000)
                page.evaluate("0")
                t0 = time.perf_counter()
                option.first.click()
                seconds = settle(page, listener, t0, UMAP_TIMEOUT)
                radio = page.get_by_role("radio", name="UMAP")
                if radio.count() and not radio.first.is_checked():
                    raise RuntimeError("the UMAP radio is not selected after the click")
                text = page.locator('[data-testid="stMain"]').inner_text()
                sources.extend(m.group(1) for m in re.finditer(r"test codes \(([^)]*)\)", text))
                return seconds

            bench.record(UMAP_ROW, umap)
        finally:
            close_page(page)
            app.stop()
    bench.samples(UMAP_ROW).extra["projections"] = "; ".join(sorted(set(sources))) or None


#: the runs of the "zoo" gestures: a fast MLP model, the cGAN and the slow diffusion reference
ZOO_RUNS = ("cvae-z32-s0", "cgan-z100-s0", "diffusion-z784-s0")
#: the start of each zoo run's label, as its column's title shows it (fast runs first)
ZOO_FAST = ("CVAE", "cGAN")
ZOO_SLOW = ("Diffusion",)

#: in the page: each side-by-side column that shows pictures, by the first line of its text (the
#: run's title), with a fingerprint of its pictures' sources and whether they are all loaded
COLUMN_PICTURES_JS = """() => {
  const out = {};
  for (const col of document.querySelectorAll('[data-testid="stMain"] [data-testid="stColumn"]')) {
    if (col.parentElement && col.parentElement.closest('[data-testid="stColumn"]')) continue;
    const imgs = Array.from(col.querySelectorAll('img.dl-img'));
    const label = (col.innerText || '').trim().split('\\n')[0].trim();
    if (!label || label in out) continue;
    const stale = !!col.querySelector('[data-stale="true"]') || !!col.closest('[data-stale="true"]');
    out[label] = {pictures: imgs.map(i => i.src.length + ':' + i.src.slice(-48)).join('|'),
                  loaded: imgs.length > 0 && imgs.every(i => i.complete), stale: stale,
                  text: (col.innerText || '').slice(0, 400)};
  }
  return out;
}"""

#: pictures still being computed in the background say so in their column (dashboard/background.py)
PENDING_TEXT = re.compile(r"(?i)\b(drawing|computing|decoding|generating|preview)\b")


def _columns(page) -> dict[str, dict[str, Any]]:
    return page.evaluate(COLUMN_PICTURES_JS)


def _column(columns: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any] | None:
    return next((v for k, v in columns.items() if k.startswith(prefix)), None)


def _wait_pictures(page, before: dict[str, dict[str, Any]], prefixes: tuple[str, ...], t0: float,
                   timeout: float = GESTURE_TIMEOUT, final: bool = False) -> float:
    """Seconds from ``t0`` until the columns titled ``prefixes`` show new, loaded pictures (with
    ``final``: and no longer say they are drawing or showing a preview)."""
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        now = _columns(page)
        done = True
        for prefix in prefixes:
            col, old = _column(now, prefix), _column(before, prefix)
            if (col is None or not col["loaded"] or col["stale"] or (old is not None and col["pictures"] == old["pictures"])
                    or (final and PENDING_TEXT.search(col["text"]))):
                done = False
                break
        if done:
            return time.perf_counter() - t0
        page.wait_for_timeout(10)
    raise TimeoutError(f"the pictures of {', '.join(prefixes)} did not change within {timeout:.0f} s")


def _zoo_path(path: str) -> str:
    return f"{path}?runs={','.join(ZOO_RUNS)}"


def gesture_zoo_slider(bench: Bench) -> None:
    """/latent_explorer with CVAE + cGAN + diffusion chosen: one ArrowRight on the first slider →
    the fast runs' pictures redrawn (each its own row), then the diffusion picture redrawn."""
    page, listener, _ = bench.new_page(_zoo_path("/latent_explorer"))
    thumb = _slider(page)
    try:
        thumb.wait_for(state="attached", timeout=60_000)
        _wait_pictures(page, {}, ZOO_FAST + ZOO_SLOW, time.perf_counter(), final=True)  # the first view, not timed
        for _ in range(bench.args.rounds * 5):
            before = _columns(page)
            t0 = _press(page, thumb, 1)
            bench.record("zoo: slider step → fast runs' pictures (CVAE, cGAN; diffusion chosen too)",
                         lambda: _wait_pictures(page, before, ZOO_FAST, t0))
            bench.record("zoo: slider step → diffusion picture", lambda: _wait_pictures(page, before, ZOO_SLOW, t0, final=True))
            settle(page, listener, t0)
    finally:
        close_page(page)


def _step_seed(page) -> float:
    """Click the Seed input's + button of the Generation grids page; t0 of the click."""
    box = page.locator(".st-key-gen_seed")
    button = box.locator('[data-testid="stNumberInputStepUp"]').first
    button.wait_for(state="visible", timeout=30_000)
    page.evaluate("0")
    t0 = time.perf_counter()
    button.click()
    return t0


def gesture_zoo_grid(bench: Bench) -> None:
    """/generation with CVAE + cGAN + diffusion chosen, on a fresh server per round (so no grid is
    cached) whose models were loaded by a visit to the latent sliders first (not timed): the page
    opened → the fast runs' grids, → the diffusion grid (its preview where there is one), → the
    diffusion grid final; then the seed stepped, timed the same way."""
    for _ in range(bench.args.rounds):
        app = bench.start_app()
        page, listener = B.new_page(bench.browser)
        try:
            app.wait_healthy()
            page.goto(app.url + _zoo_path("/latent_explorer"), wait_until="commit", timeout=GESTURE_TIMEOUT * 1000)
            _wait_pictures(page, {}, ZOO_FAST + ZOO_SLOW, time.perf_counter(), final=True)
            B.wait_quiet(page)
            t0 = time.perf_counter()
            page.goto(app.url + _zoo_path("/generation"), wait_until="commit", timeout=GESTURE_TIMEOUT * 1000)
            bench.record("zoo: grid page opened → fast runs' grids", lambda: _wait_pictures(page, {}, ZOO_FAST, t0))
            bench.record("zoo: grid page opened → diffusion grid (first picture)", lambda: _wait_pictures(page, {}, ZOO_SLOW, t0))
            bench.record("zoo: grid page opened → diffusion grid final", lambda: _wait_pictures(page, {}, ZOO_SLOW, t0, final=True))
            settle(page, listener, t0)
            before = _columns(page)
            t0 = _step_seed(page)
            bench.record("zoo: seed change → fast runs' grids", lambda: _wait_pictures(page, before, ZOO_FAST, t0))
            bench.record("zoo: seed change → diffusion grid (first picture)", lambda: _wait_pictures(page, before, ZOO_SLOW, t0))
            bench.record("zoo: seed change → diffusion grid final",
                         lambda: _wait_pictures(page, before, ZOO_SLOW, t0, final=True))
            settle(page, listener, t0)
        finally:
            close_page(page)
            app.stop()


def gesture_sampling_step(bench: Bench) -> None:
    """/sampling (the diffusion reference's 20 DDIM steps, computed once, not timed): one ArrowLeft or
    ArrowRight on the Step slider → the new step's x_t and x̂₀ drawn."""
    page, listener, _ = bench.new_page("/sampling?runs=diffusion-z784-s0")
    thumb = _slider(page, "sampling_step_20")
    try:
        thumb.wait_for(state="attached", timeout=GESTURE_TIMEOUT * 1000)
        page.locator('img[alt="generated image"]').wait_for(state="visible", timeout=GESTURE_TIMEOUT * 1000)
        B.wait_quiet(page)
        for i in range(bench.args.rounds * 5):
            def one() -> float:
                before = _slider_value(thumb)
                t0 = _press(page, thumb, 1)
                step = int(_slider_value(thumb))
                if step == before:
                    raise RuntimeError("the key press did not move the Step slider")
                page.locator(f'img[alt="x̂₀ at step {step}"]').wait_for(state="visible", timeout=GESTURE_TIMEOUT * 1000)
                return settle(page, listener, t0)

            bench.record("sampling: step slider → that step's x_t and x̂₀ (diffusion, 20 steps)", one)
    finally:
        close_page(page)


REPLAY_RUN = "flow-z784-s0"  # a shipped run with per-epoch snapshots (grids)


def gesture_replay_slider(bench: Bench) -> None:
    """/generation with a shipped run that has snapshots: one ArrowLeft or ArrowRight on the Replay
    section's Epoch slider → that epoch's grid drawn (the fragment reruns alone)."""
    page, listener, _ = bench.new_page(f"/generation?runs={REPLAY_RUN}")
    thumb = _slider(page, "gen_replay_epoch")
    shown = page.locator('img[alt*=": grid at epoch"]')
    try:
        thumb.wait_for(state="attached", timeout=GESTURE_TIMEOUT * 1000)
        shown.first.wait_for(state="visible", timeout=GESTURE_TIMEOUT * 1000)
        B.wait_quiet(page)
        for _ in range(bench.args.rounds * 5):
            def one() -> float:
                before, alt = _slider_value(thumb), shown.first.get_attribute("alt")
                t0 = _press(page, thumb, 1)
                if _slider_value(thumb) == before:
                    raise RuntimeError("the key press did not move the Epoch slider")
                seconds = settle(page, listener, t0)
                if shown.first.get_attribute("alt") == alt:
                    raise RuntimeError(f"the replayed grid did not change from {alt!r}")
                return seconds

            bench.record("replay: epoch slider → that epoch's grid", one)
    finally:
        close_page(page)


def _training_state(page) -> str:
    """The heading of the Train page's newest training, e.g. "cae-z32-s0-… · training · epoch 3 of 50"."""
    return page.evaluate("""() => { const s = Array.from(document.querySelectorAll('[data-testid="stMain"] p > strong'))
        .map(b => b.parentElement.innerText).find(t => / · (training|starting|finished|stopped|failed)/.test(t));
        return s || ''; }""")


#: timestamps (performance.now(), ms) of each grid the Train page's live panel draws, by its alt text
_WATCH_GRIDS = """() => {
    window.__grids = {};
    const look = () => {
        for (const img of document.querySelectorAll('img.dl-img[alt^="samples after epoch"]'))
            if (!(img.alt in window.__grids)) window.__grids[img.alt] = performance.now();
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
    look();
}"""
TRAIN_LIVE_EPOCHS = 5


def gesture_train_live(bench: Bench) -> None:
    """/train: seed 000's CAE with z = 2 on all 48,000 images for 5 epochs, Start clicked → the first live
    update (the untrained model's grid, epoch 0) drawn; then the time between the grids of successive
    epochs as the page draws them (one epoch of training plus its snapshot, seen through the page's
    1-second refresh). The run is deleted at the end."""
    for _ in range(bench.args.rounds):
        page, listener, _ = bench.new_page("/train")
        start = page.get_by_role("button", name="Start training")
        try:
            start.wait_for(timeout=GESTURE_TIMEOUT * 1000)
            for label, value in (("latent dim", "2"), ("Epochs", str(TRAIN_LIVE_EPOCHS))):
                field = page.get_by_label(label, exact=True)
                field.fill(value)
                field.press("Tab")
            B.wait_quiet(page)
            page.evaluate(_WATCH_GRIDS)
            clicked = page.evaluate("() => performance.now()")
            start.click()
            page.get_by_text(f" · finished · epoch {TRAIN_LIVE_EPOCHS} of {TRAIN_LIVE_EPOCHS}").wait_for(
                timeout=GESTURE_TIMEOUT * 1000 * 4)
            grids = page.evaluate("() => window.__grids")
            shown = [grids.get(f"samples after epoch {e}") for e in range(TRAIN_LIVE_EPOCHS + 1)]
            bench.record("train: Start → first live update (CAE z=2, untrained model's grid)",
                         lambda: None if shown[0] is None else (shown[0] - clicked) / 1000)
            for before, after in zip(shown[1:], shown[2:]):  # epoch 1 also loads the data: from epoch 2 on
                bench.record("train: one 48,000-image epoch of CAE z=2, grid to grid on the page",
                             lambda b=before, a=after: None if None in (a, b) else (a - b) / 1000)
            if None in shown:
                raise RuntimeError(f"the page did not draw every epoch's grid: {sorted(grids)}")
        finally:
            delete = page.get_by_role("button", name="Delete")
            if delete.count():
                delete.first.click()
                page.get_by_text("No training from this browser yet.").wait_for(timeout=60_000)
            close_page(page)


def gesture_while_training(bench: Bench) -> None:
    """Pen up (default runs) and slider steps while a training runs on the same server: the Train page's
    default CAE (z = 32, all 48,000 images, 50 epochs) started in another session, whose page stays open
    and refreshes every second; the training is deleted at the end."""
    page, listener, _ = bench.new_page("/train")
    start = page.get_by_role("button", name="Start training")
    try:
        start.wait_for(timeout=GESTURE_TIMEOUT * 1000)
        start.click()
        page.wait_for_function("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] p > strong'))
            .some(b => / · training · epoch /.test(b.parentElement.innerText))""", timeout=GESTURE_TIMEOUT * 1000)
        first = _training_state(page)
        bench.suffix = " while a training runs"
        try:
            _draw_session(bench, "default runs", None)
            gesture_slider(bench)
        finally:
            bench.suffix = ""
        last = _training_state(page)
        s = bench.samples("pen up → predictions (default runs) while a training runs")
        s.extra["training"] = f"from '{first.split(' · ', 1)[-1]}' to '{last.split(' · ', 1)[-1]}'"
        if " · training" not in last:
            raise RuntimeError(f"the training was no longer running at the end: {last!r}")
    finally:
        bench.suffix = ""
        delete = page.get_by_role("button", name="Delete")
        if delete.count():
            delete.first.click()
            page.wait_for_function("""() => !Array.from(document.querySelectorAll('[data-testid="stMain"] p > strong'))
                .some(b => / · (training|starting|waiting)/.test(b.parentElement.innerText))""", timeout=60_000)
        close_page(page)


GESTURES: dict[str, Callable[[Bench], None]] = {
    "cold-start": gesture_cold_start,
    "first-page": gesture_first_page,
    "draw": gesture_draw,
    "draw-8": gesture_draw_8,
    "live": gesture_live,
    "slider": gesture_slider,
    "rapid-slider": gesture_rapid_slider,
    "page-switch": gesture_page_switch,
    "latent-space": gesture_latent_space,
    "zoo-slider": gesture_zoo_slider,
    "zoo-grid": gesture_zoo_grid,
    "sampling-step": gesture_sampling_step,
    "replay-slider": gesture_replay_slider,
    "while-training": gesture_while_training,
    "train-live": gesture_train_live,
}


# =============================================================================================
# report
# =============================================================================================

COLUMNS = [("gesture", "Gesture"), ("n", "n"), ("median", "median (s)"), ("p95", "p95 (s)"), ("min", "min (s)"),
           ("max", "max (s)"), ("notes", "notes"), ("errors", "errors")]


def _notes(row: dict[str, Any]) -> str:
    skip = {"gesture", "n", "median", "p95", "min", "max", "errors", "error_messages"}
    parts = []
    for key, value in row.items():
        if key in skip or value is None:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def report(bench: Bench, started: float, gesture_errors: dict[str, str]) -> dict[str, Any]:
    rows = [s.as_row() for s in bench.results.values()]
    return {"benchmark": "ui", "machine": B.machine_info(), "seconds_total": round(time.perf_counter() - started, 1),
            "options": {k: v for k, v in vars(bench.args).items() if k not in ("out",)},
            "method": "gesture → script_finished of the run it started (page websocket, ForwardMsg) + quiet DOM "
                      f"(no [data-stale=true], main-area images complete, {B.QUIET_S} s)",
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
            "gestures": rows, "gesture_errors": gesture_errors, "draw_trials": bench.trials,
            "samples": {s.name: [round(v, 4) for v in s.values] for s in bench.results.values()}}


def write_markdown(path: Path, data: dict[str, Any]) -> None:
    rows = []
    for row in data["gestures"]:
        rows.append({**row, "notes": _notes(row),
                     "errors": (f"{row['errors']}: {row['error_messages'][0]}" if row["errors"] else "0")})
    lines = ["# Dashboard gesture latency (benchmarks/bench_ui.py)", "", *B.machine_lines(data["machine"]),
             f"- Options: rounds {data['options']['rounds']}, launches {data['options']['launches']}, "
             f"gestures {' '.join(data['options']['gestures'])}",
             f"- Method: {data['method']}",
             f"- Load average at the end {data['load_average_at_end']} (other work on the machine skews the figures)",
             "", B.markdown_table(rows, COLUMNS), ""]
    if data["gesture_errors"]:
        lines += ["Gestures that failed as a whole:", ""]
        lines += [f"- {name}: {msg}" for name, msg in data["gesture_errors"].items()] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gestures", nargs="+", default=list(GESTURES), choices=list(GESTURES), metavar="NAME",
                        help="subset of: " + " ".join(GESTURES) + " (default: all)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="rounds of each gesture (draw: 10 digits a round; slider: 5 steps a round; ...)")
    parser.add_argument("--launches", type=positive_int, default=3, help="cold starts (default 3)")
    parser.add_argument("--out", default=str(B.REPO_ROOT / "benchmarks" / "results" / "ui.json"),
                        help="the JSON file; the Markdown table goes beside it with .md (default benchmarks/results/ui.json)")
    parser.add_argument("--port", type=positive_int, default=None, help="port of the servers (default: a free one)")
    parser.add_argument("--runs-8", default=",".join(DEFAULT_RUNS_8),
                        help="the 8 run ids of the draw-8 gesture, comma-separated")
    parser.add_argument("--keep-cache", action="store_true",
                        help="use the usual DIGITLAB_CACHE instead of a fresh temporary folder per server")
    parser.add_argument("--list", action="store_true", help="list the gestures and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each sample as it is taken")
    args = parser.parse_args(argv)
    args.runs_8 = [n.strip() for n in args.runs_8.split(",") if n.strip()]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, fn in GESTURES.items():
            print(f"{name:14s} {fn.__doc__.strip().splitlines()[0]}")
        return 0
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    gesture_errors: dict[str, str] = {}
    out = Path(args.out)
    with sync_playwright() as p:
        bench = Bench(args, p)
        try:
            for name in args.gestures:
                print(f"[bench_ui] {name} …", flush=True)
                t = time.perf_counter()
                B.guarded(name, lambda: GESTURES[name](bench), gesture_errors)
                if name in gesture_errors:
                    print(f"[bench_ui] {name} failed: {gesture_errors[name]}", flush=True)
                print(f"[bench_ui] {name} done in {time.perf_counter() - t:.0f} s", flush=True)
        finally:
            data = report(bench, started, gesture_errors)
            bench.close()
    B.write_report(out, data, write_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
