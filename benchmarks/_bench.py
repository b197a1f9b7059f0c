"""Shared harness of the dashboard benchmarks (benchmarks/bench_ui.py, benchmarks/bench_load.py).

Pure parts (tested in tests/test_bench.py, no browser): summary statistics, ForwardMsg parsing, the
digit strokes and their offline rasterization, the Markdown/JSON report writers.

Browser parts: start the app, launch Debian's chromium through Playwright (offline: no
``playwright install``), and time a gesture the way ../shared/NOTES.md describes it — listen to the
page's websocket, parse every binary frame as a ``ForwardMsg``, note each run's ``new_session`` and
``script_finished`` (both carry ``metadata.run.script_run_id``), take the ``script_finished`` of the
run the gesture started, then wait until the DOM is quiet (no ``[data-stale="true"]`` element and
every ``img`` of the main area complete, for ``QUIET_S`` seconds).

Dashboard hooks relied on (keep them stable, or fix the selectors here):

* ``[data-testid="sketchpad-canvas"]`` — the drawing canvas (fallback: the last ``<canvas>``);
  ``[data-testid="sketchpad"]`` with ``data-strokes`` (optional);
* a button named "Clear canvas" or "Clear" (``[data-testid="sketchpad-clear"]`` first);
* ``.dl-card[data-run]`` with ``.dl-pred`` — one prediction card per run (fallback: ``stMetric`` cards);
* ``.st-key-<widget key>`` classes: ``.st-key-sl_0`` (first latent slider), ``.st-key-lat_method``
  (projection radio); sidebar navigation links ``[data-testid="stSidebarNav"] a`` by their titles.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from core.paths import REPO_ROOT

#: seconds the DOM must stay unchanged-stale-free with every image loaded to count as "quiet"
QUIET_S = 0.4
#: chromium flags for a headless, offline run (same as tests/browser.py)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1000}


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------

def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks (numpy's
    default, "linear"); NaN for no values."""
    data = sorted(float(v) for v in values)
    if not data:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0 and 100, not {q}")
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: Iterable[float]) -> dict[str, Any]:
    """``{"n", "median", "p95", "min", "max"}`` of the values (seconds); None for n = 0."""
    data = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not data:
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    return {"n": len(data), "median": percentile(data, 50), "p95": percentile(data, 95),
            "min": min(data), "max": max(data)}


# ---------------------------------------------------------------------------------------------
# ForwardMsg parsing
# ---------------------------------------------------------------------------------------------

@dataclass
class Event:
    """One lifecycle message of the app's websocket, in the order received."""
    t: float              # time.perf_counter() when the frame arrived
    kind: str             # "new_session" | "script_finished"
    run_id: str           # metadata.run.script_run_id ("" if the server did not say)
    fragment: bool        # the run reruns fragments only
    status: str = ""      # for script_finished: FINISHED_SUCCESSFULLY, FINISHED_EARLY_FOR_RERUN, ...


def parse_frame(payload: bytes | str, t: float | None = None) -> Event | None:
    """The lifecycle event in one websocket frame (``new_session`` or ``script_finished``), or None
    for any other message (deltas, heartbeats, text frames, unparsable bytes)."""
    if not isinstance(payload, (bytes, bytearray)):
        return None
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    try:
        msg = ForwardMsg.FromString(bytes(payload))
    except Exception:  # noqa: BLE001 - a frame that is not a ForwardMsg is not ours to time
        return None
    kind = msg.WhichOneof("type")
    if kind not in ("new_session", "script_finished"):
        return None
    run = msg.metadata.run
    status = ""
    if kind == "script_finished":
        status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
    return Event(t=time.perf_counter() if t is None else t, kind=kind, run_id=run.script_run_id,
                 fragment=len(run.fragment_ids) > 0, status=status)


def is_final(event: Event) -> bool:
    """A script_finished that ends a run with its output drawn (not one cut short by a newer rerun)."""
    return event.kind == "script_finished" and event.status != "FINISHED_EARLY_FOR_RERUN"


def finished_after(events: list[Event], t0: float) -> Event | None:
    """The first final ``script_finished`` of a run that started (``new_session``) at or after ``t0``;
    runs cut short by a rerun are skipped, so after several quick gestures it is the run that
    drew the last one. A script_finished without a run id counts when a run started after ``t0``."""
    started = set()
    any_started = False
    for ev in events:
        if ev.t < t0:
            continue
        if ev.kind == "new_session":
            started.add(ev.run_id)
            any_started = True
        elif is_final(ev) and (ev.run_id in started or (not ev.run_id and any_started)):
            return ev
    return None


def finished_count(events: list[Event], t0: float, t1: float) -> int:
    """How many final script_finished messages arrived within [t0, t1]."""
    return sum(1 for ev in events if t0 <= ev.t <= t1 and is_final(ev))


class Listener:
    """Collects the lifecycle events of every websocket of a Playwright page (thread-safe list)."""

    def __init__(self, page):
        self.events: list[Event] = []
        self.frames = 0
        self._lock = threading.Lock()
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        if "_stcore/stream" not in ws.url:
            return
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        t = time.perf_counter()
        self.frames += 1
        ev = parse_frame(payload, t)
        if ev is not None:
            with self._lock:
                self.events.append(ev)

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)


# ---------------------------------------------------------------------------------------------
# digit strokes (fractions 0–1 of the canvas box; a digit is a list of strokes)
# ---------------------------------------------------------------------------------------------

Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[Point]:
    """Points on an ellipse arc, angles in degrees on the screen (0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


def _line(a: Point, b: Point, n: int = 8) -> list[Point]:
    return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n + 1)]


def _join(*parts: list[Point]) -> list[Point]:
    out: list[Point] = []
    for part in parts:
        out.extend(part[1:] if out and part and math.dist(out[-1], part[0]) < 1e-6 else part)
    return out


def digit_strokes() -> dict[int, list[list[Point]]]:
    """A hand-like stroke list for each digit 0–9 (checked offline by the judge: tests/test_bench.py)."""
    two_top = _arc(0.50, 0.34, 0.21, 0.18, 195, 390)
    three_top = _arc(0.47, 0.32, 0.19, 0.15, 205, 450)
    three_bottom = _arc(0.47, 0.65, 0.21, 0.17, 270, 500)
    five_bowl = _arc(0.47, 0.63, 0.22, 0.19, 235, 500)
    six_lead = [(0.64, 0.12), (0.52, 0.22), (0.42, 0.36), (0.35, 0.52), (0.32, 0.66)]
    six_loop = _arc(0.50, 0.68, 0.18, 0.17, 180, -180)
    nine_loop = _arc(0.48, 0.32, 0.18, 0.16, 0, -360)
    return {
        0: [_arc(0.5, 0.5, 0.22, 0.34, -90, 275, 40)],
        1: [[(0.52, 0.15), (0.51, 0.33), (0.50, 0.50), (0.49, 0.68), (0.48, 0.85)]],
        2: [_join(two_top, _line(two_top[-1], (0.28, 0.84)), _line((0.28, 0.84), (0.76, 0.84)))],
        3: [_join(three_top, three_bottom)],
        4: [_join(_line((0.52, 0.14), (0.26, 0.60)), _line((0.26, 0.60), (0.78, 0.60))),
            _line((0.62, 0.34), (0.62, 0.88))],
        5: [_join(_line((0.72, 0.16), (0.36, 0.16)), _line((0.36, 0.16), (0.34, 0.46)), five_bowl)],
        6: [_join(six_lead, six_loop)],
        7: [_join(_line((0.24, 0.18), (0.76, 0.18)), _line((0.76, 0.18), (0.44, 0.88)))],
        8: [[(0.5 + 0.19 * math.sin(2 * t), 0.5 - 0.36 * math.cos(t))
             for t in [2 * math.pi * i / 48 for i in range(50)]]],
        9: [_join(nine_loop, _line(nine_loop[-1], (0.64, 0.88)))],
    }


def slow_stroke() -> list[Point]:
    """A long stroke for "updates while drawing" (an S-like curve, drawn over ~2 s)."""
    return [(0.5 + 0.25 * math.sin(3 * math.pi * i / 60), 0.12 + 0.76 * i / 60) for i in range(61)]


def rasterize(strokes: list[list[Point]], size: int = 280, width: int = 20):
    """The strokes drawn white on black (float32 (size, size) in [0, 1]) with round caps and joins,
    as the dashboard's canvas draws them at brush width ``width``."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    r = width / 2
    for s in strokes:
        pts = [(x * size, y * size) for x, y in s]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=width, joint="curve")
        for x, y in pts:  # round caps and joins everywhere
            draw.ellipse((x - r + 0.5, y - r + 0.5, x + r - 0.5, y + r - 0.5), fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def judge_readings(judge_path: str | os.PathLike = REPO_ROOT / "checkpoints" / "judge-s0") -> dict[int, tuple[int, float]]:
    """``{digit: (what the judge reads, its probability)}`` for the rasterized strokes of each digit."""
    from core.data.preprocess import mnist_preprocess
    from core.explore.latents import class_probabilities
    from core.runs.store import load_run

    model = load_run(judge_path).model
    out = {}
    for digit, strokes in digit_strokes().items():
        probs = class_probabilities(model, mnist_preprocess(rasterize(strokes)))
        out[digit] = (int(probs.argmax()), float(probs.max()))
    return out


# ---------------------------------------------------------------------------------------------
# the app and the machine
# ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str:
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("chromium is not installed: `apt-get install -y chromium` (Debian's, see NOTES)")
    return path


def is_local_url(url: str) -> bool:
    """True for http(s) URLs on this machine only (localhost, 127.0.0.0/8, ::1)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    host = (parts.hostname or "").lower()
    return host in ("localhost", "::1", "ip6-localhost") or host.startswith("127.")


class App:
    """``streamlit run dashboard/app.py`` as a child process (its own process group)."""

    def __init__(self, port: int | None = None, cache_dir: str | None = None, log_path: str | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        if cache_dir is not None:
            env["DIGITLAB_CACHE"] = cache_dir
        self.t_launch = time.perf_counter()
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
             "--server.headless", "true", "--server.port", str(self.port), "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 120.0) -> float:
        """Wait until ``/_stcore/health`` answers; return the time (perf_counter) it did."""
        deadline = time.perf_counter() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter()
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"streamlit did not answer on {self.url} within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _children(pid: int) -> list[int]:
    """Every descendant pid of ``pid`` (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
                out.extend(kids)
                todo.extend(kids)
        except OSError:
            continue
    return out


def process_tree(pid: int) -> list[int]:
    return [pid] + _children(pid)


def rss_bytes(pid: int, exclude: Iterable[int] = ()) -> int:
    """Resident memory of ``pid`` and its descendants but ``exclude`` (VmRSS from /proc), 0 when gone."""
    total = 0
    skip = set(exclude)
    for p in process_tree(pid):
        if p in skip:
            continue
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (from /proc/<pid>/stat),
    including the reaped children it waited for (cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14–17
            total += sum(int(v) for v in fields[11:15])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def machine_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    try:
        import streamlit
        st_version = streamlit.__version__
    except Exception:  # noqa: BLE001
        st_version = ""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"cpu_count": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "load_average_at_start": load, "platform": platform.platform(), "python": platform.python_version(),
            "streamlit": st_version, "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(dirty), "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}


# ---------------------------------------------------------------------------------------------
# the browser side
# ---------------------------------------------------------------------------------------------

QUIET_JS = """() => {
  if (document.querySelector('[data-stale="true"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const main = document.querySelector('[data-testid="stMain"]') || document.querySelector('section.main') || document.body;
  for (const img of main.querySelectorAll('img')) { if (!img.complete) return false; }
  return true;
}"""

#: in the page: poll QUIET_JS every 50 ms until it held for quietMs; resolve to how many ms ago the
#: quiet period began (one round trip per gesture instead of one per poll: light with many pages)
QUIET_WAIT_JS = """async ([quietMs, timeoutMs]) => {
  const quiet = %s;
  const start = performance.now();
  let since = null;
  while (performance.now() - start < timeoutMs) {
    const now = performance.now();
    if (quiet()) {
      if (since === null) since = now;
      else if (now - since >= quietMs) return performance.now() - since;
    } else {
      since = null;
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return -1;
}""" % QUIET_JS


def wait_quiet(page, quiet_s: float = QUIET_S, timeout: float = 120.0) -> float:
    """Wait until the DOM has been quiet for ``quiet_s`` seconds; return when it became quiet
    (perf_counter), i.e. the end of the gesture."""
    ago_ms = page.evaluate(QUIET_WAIT_JS, [quiet_s * 1000, timeout * 1000])
    now = time.perf_counter()
    if ago_ms < 0:
        raise TimeoutError(f"the page did not settle within {timeout:.0f} s")
    return now - ago_ms / 1000


async def async_wait_quiet(page, quiet_s: float = QUIET_S, timeout: float = 120.0) -> float:
    ago_ms = await page.evaluate(QUIET_WAIT_JS, [quiet_s * 1000, timeout * 1000])
    now = time.perf_counter()
    if ago_ms < 0:
        raise TimeoutError(f"the page did not settle within {timeout:.0f} s")
    return now - ago_ms / 1000


def wait_finished(page, listener: Listener, t0: float, timeout: float = 120.0) -> Event:
    """Wait for the final script_finished of a run started at or after ``t0``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        ev = finished_after(listener.snapshot(), t0)
        if ev is not None:
            return ev
        page.wait_for_timeout(20)
    raise TimeoutError(f"no script_finished within {timeout:.0f} s of the gesture")


def wait_settled(page, listener: Listener, t0: float, timeout: float = 120.0,
                 quiet_s: float = QUIET_S) -> tuple[float, Event]:
    """Seconds from ``t0`` to the end of the gesture's run plus a quiet DOM, and the finish event.
    The reruns that follow (another script_finished within the quiet wait) are waited for too."""
    ev = wait_finished(page, listener, t0, timeout)
    remaining = max(1.0, timeout - (time.perf_counter() - t0))
    end = wait_quiet(page, quiet_s, remaining)
    last = [e for e in listener.snapshot() if is_final(e) and e.t >= ev.t]
    end = max(end, last[-1].t if last else ev.t)
    return end - t0, ev


async def async_wait_finished(listener: Listener, t0: float, timeout: float = 120.0) -> Event:
    import asyncio

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        ev = finished_after(listener.snapshot(), t0)
        if ev is not None:
            return ev
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no script_finished within {timeout:.0f} s of the gesture")


async def async_wait_settled(page, listener: Listener, t0: float, timeout: float = 120.0,
                             quiet_s: float = QUIET_S) -> tuple[float, Event]:
    """:func:`wait_settled` for Playwright's async API."""
    ev = await async_wait_finished(listener, t0, timeout)
    remaining = max(1.0, timeout - (time.perf_counter() - t0))
    end = await async_wait_quiet(page, quiet_s, remaining)
    last = [e for e in listener.snapshot() if is_final(e) and e.t >= ev.t]
    end = max(end, last[-1].t if last else ev.t)
    return end - t0, ev


def launch_browser(playwright, headless: bool = True):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=headless)


def new_page(browser):
    """A page in a fresh context (its own cookies and storage: a new Streamlit session)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    return page, Listener(page)


def open_and_time(page, listener: Listener, url: str, timeout: float = 180.0) -> float:
    """Load ``url`` in ``page``; seconds from navigation to its first run finished and a quiet DOM."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=timeout * 1000)
    seconds, _ = wait_settled(page, listener, t0, timeout)
    return seconds


# --- locators (the lead may need to adjust these while the dashboard changes) ---

def canvas_locator(page):
    pad = page.locator('[data-testid="sketchpad-canvas"]')
    if pad.count():
        return pad.first
    return page.locator("canvas").last


def clear_button(page):
    for loc in (page.locator('[data-testid="sketchpad-clear"]'),
                page.get_by_role("button", name="Clear canvas", exact=True),
                page.get_by_role("button", name="Clear", exact=True)):
        if loc.count():
            return loc.first
    raise LookupError('no "Clear" / "Clear canvas" button on the page')


def draw_strokes(page, box: dict, strokes: list[list[Point]], steps: int = 2, pause_ms: float = 0.0) -> None:
    """Draw the strokes (fractions of ``box``) with the mouse; ``pause_ms`` between moves slows it."""
    def at(p: Point) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    for s in strokes:
        page.mouse.move(*at(s[0]))
        page.mouse.down()
        for p in s[1:]:
            page.mouse.move(*at(p), steps=steps)
            if pause_ms:
                page.wait_for_timeout(pause_ms)
        page.mouse.up()


READ_PREDICTIONS_JS = """() => {
  const out = {};
  const cards = document.querySelectorAll('.dl-card[data-run]');
  if (cards.length) {
    for (const card of cards) {
      const pred = card.querySelector('.dl-pred');
      if (pred) out[card.dataset.run] = pred.innerText.trim();
    }
    return out;
  }
  for (const card of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = (card.querySelector('[data-testid="stMetricLabel"]') || {}).innerText || '';
    out[label.trim()] = ((card.querySelector('[data-testid="stMetricValue"]') || {}).innerText || '').trim();
  }
  return out;
}"""


def read_predictions(page) -> dict[str, str]:
    """``{run name (or card label): shown digit}`` from the Draw page."""
    return page.evaluate(READ_PREDICTIONS_JS)


def sidebar_link(page, title: str):
    nav = page.locator('[data-testid="stSidebarNav"] a', has_text=title)
    if nav.count():
        return nav.first
    return page.get_by_role("link", name=title).first


# ---------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------

def _fmt_s(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """A Markdown table; ``columns`` are (key, header); floats are seconds with 2 decimals."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            if isinstance(value, float):
                cells.append(_fmt_s(value))
            elif value is None:
                cells.append("—")
            else:
                cells.append(str(value).replace("|", "\\|").replace("\n", " "))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def machine_lines(machine: dict[str, Any]) -> list[str]:
    return [f"- Machine: {machine.get('cpu_count')} CPUs ({machine.get('usable_cpus')} usable), "
            f"load average at start {machine.get('load_average_at_start')}, {machine.get('platform')}",
            f"- Python {machine.get('python')}, Streamlit {machine.get('streamlit')}",
            f"- Commit {machine.get('git_commit', '')[:12]}{' (with uncommitted changes)' if machine.get('git_dirty') else ''}, "
            f"{machine.get('date')}"]


def guarded(name: str, fn: Callable[[], Any], errors: dict[str, str]) -> Any:
    """Run ``fn``; on failure record ``errors[name]`` (type and message) and return None."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one failed gesture must not end the run
        errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
        return None


@dataclass
class Samples:
    """Durations (seconds) of one gesture plus extra facts and errors."""
    name: str
    values: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: seconds from the gesture to its run's script_finished (the rest is the browser drawing it)
    to_finished: list[float] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        row = {"gesture": self.name, **summary(self.values), "errors": len(self.errors),
               "error_messages": self.errors[:5]}
        if self.to_finished:
            row["median to script_finished"] = round(percentile(self.to_finished, 50), 3)
        return {**row, **self.extra}


def write_report(out: str | os.PathLike, data: dict, write_markdown: Callable[[Path, dict], None]) -> None:
    """Write a benchmark's JSON to ``out`` and its Markdown beside it (``.md``), and print the Markdown."""
    out = Path(out)
    write_json(out, data)
    write_markdown(out.with_suffix(".md"), data)
    print(out.with_suffix(".md").read_text())
