"""Many users at once: the dashboard's latency, memory and CPU under N concurrent sessions (not a test).

    python -m benchmarks.bench_load                                  # 5, 10 and 20 sessions, 60 s each
    python -m benchmarks.bench_load --sessions 2 --duration 20       # a short trial
    python -m benchmarks.bench_load --url http://127.0.0.1:8501      # a server already running here

For each ``--sessions`` level a fresh server is started (``streamlit run dashboard/app.py``, its
``DIGITLAB_CACHE`` in a fresh temporary folder unless ``--keep-cache``), or ``--url`` names one on
this machine (any other host is refused). N simulated users then work for ``--duration`` seconds
(at most 600): each opens the app, switches pages through the sidebar (Draw a digit, Latent
sliders, Overview), draws a digit and clears it, steps a latent slider, with a think time between
gestures. Meanwhile a probe opens a brand-new session every ``--probe-every`` seconds.

Two load generators (``--client``):

- ``ws`` (default): each user is a browser-less session speaking Streamlit's websocket protocol
  (benchmarks/_ws_client.py): the same messages a browser sends (page switches, the sketchpad's PNG
  several times a second while the pen moves and at pen up, slider values), a few percent of one
  core for all of them. A gesture's time is gesture → the server's ``script_finished`` of the run it
  started: the server's share of the wait, without the browser's JavaScript and painting.
- ``browser``: one headless Chromium (Debian's) driven by Playwright's async API, one browser
  context (own cookies, own Streamlit session) per user; timing is bench_ui's (script_finished +
  a quiet DOM), the whole wait, but Chromium takes most of the 2 cores itself.

Either way the generator's own CPU (this process and its children: Playwright's driver, Chromium)
is measured apart from the server's (``/proc/<pid>/stat`` of the streamlit process tree), so the
reader can tell how much of the machine the generator took.

Writes ``benchmarks/results/load.json`` and ``benchmarks/results/load.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
import urllib.parse
from pathlib import Path
from typing import Any, Awaitable, Callable

from benchmarks import _bench as B
from benchmarks import _ws_client as W
from scripts._cli import positive_float, positive_int

MAX_DURATION = 600
MAX_SESSIONS = 50
#: the pages a simulated user goes through (sidebar titles), with the gesture done on each
CYCLE = ("Draw a digit", "Latent sliders & interpolation", "Overview")
THUMB = "[role='slider'], input[type='range']"
CLIENTS = {
    "ws": "browser-less sessions on Streamlit's websocket protocol (benchmarks/_ws_client.py), one per simulated "
          "user, all in this process; times are gesture → the server's script_finished",
    "browser": "one headless Chromium (Debian's) driven by Playwright's async API; one browser context "
               "(own Streamlit session) per simulated user; times are gesture → script_finished + a quiet DOM",
}
#: the sketchpad's live sends while a digit is drawn (it throttles them to one every 150 ms)
LIVE_SENDS, LIVE_MS = 5, 150

ROW_FIRST_FRESH = "first page: first session on a fresh server"
ROW_FIRST_IDLE = "first page: new session on a running, idle server"
ROW_FIRST_PROBE = "first page: new session on a running server under load (probe)"
ROW_SESSION_START = "first page: the load's own sessions (ramped start)"
ROW_SWITCH = "page switch (sidebar link)"
ROW_PEN_UP = "pen up → predictions"
ROW_CLEAR = "clear → empty canvas"
ROW_SLIDER = "slider step → decoded images"


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in type(exc).__name__


# =============================================================================================
# resource accounting
# =============================================================================================

def pid_listening_on(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` here (from /proc/net/tcp*), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                        inodes.add(cols[9])
        except OSError:
            continue
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def _proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of one process, in seconds (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def generator_cpu(server_pid: int | None) -> float:
    """CPU seconds of the load generator: this process (getrusage) plus its descendants (the
    Playwright driver, Chromium and its renderers) that are not the server's tree."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server = set(B.process_tree(server_pid)) if server_pid else set()
    return usage.ru_utime + usage.ru_stime + sum(
        _proc_cpu(p) for p in B.process_tree(os.getpid())[1:] if p not in server)


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value / 2 ** 20, 1)


# =============================================================================================
# one level of load
# =============================================================================================

class Level:
    """The results of one ``--sessions`` level."""

    def __init__(self, sessions: int):
        self.sessions = sessions
        self.samples: dict[str, B.Samples] = {}
        self.timeouts: dict[str, int] = {}
        self.correct = [0, 0]  # pen ups whose shown digit was the drawn one, pen ups
        self.rss: list[tuple[float, int]] = []
        self.gen_rss_max = 0

    def s(self, name: str) -> B.Samples:
        return self.samples.setdefault(name, B.Samples(name))

    async def timed(self, name: str, fn: Callable[[], Awaitable[float]], verbose: bool = False) -> float | None:
        try:
            value = await fn()
        except Exception as exc:  # noqa: BLE001 - a failed gesture is data
            self.s(name).errors.append(_message(exc))
            if _is_timeout(exc):
                self.timeouts[name] = self.timeouts.get(name, 0) + 1
            if verbose:
                traceback.print_exc()
            return None
        self.s(name).values.append(value)
        return value


async def _check_page(page) -> None:
    exc = page.locator('[data-testid="stException"]')
    if await exc.count():
        text = (await exc.first.inner_text()).strip().splitlines()
        raise RuntimeError("the page shows an exception: " + (text[0] if text else "?"))


async def _settle(page, listener, t0: float, timeout: float) -> float:
    seconds, _ = await B.async_wait_settled(page, listener, t0, timeout)
    await _check_page(page)
    return seconds


async def _open(browser, url: str, timeout: float):
    """A new context and page opened at ``url``; (page, listener, seconds to settled)."""
    context = await browser.new_context(viewport=B.VIEWPORT)
    page = await context.new_page()
    listener = B.Listener(page)
    t0 = time.perf_counter()
    try:
        await page.goto(url, wait_until="commit", timeout=timeout * 1000)
        seconds = await _settle(page, listener, t0, timeout)
    except Exception:
        await context.close()
        raise
    return page, listener, seconds


async def _switch(page, listener, title: str, timeout: float) -> float:
    nav = page.locator('[data-testid="stSidebarNav"] a', has_text=title)
    link = nav.first if await nav.count() else page.get_by_role("link", name=title).first
    await link.wait_for(state="visible", timeout=timeout * 1000)
    await page.evaluate("0")  # frames received so far are stamped before t0
    t0 = time.perf_counter()
    await link.click()
    return await _settle(page, listener, t0, timeout)


async def _canvas_box(page, timeout: float) -> dict:
    pad = page.locator('[data-testid="sketchpad-canvas"]')
    canvas = pad.first if await pad.count() else page.locator("canvas").last
    await canvas.wait_for(state="visible", timeout=timeout * 1000)
    box = await canvas.bounding_box()
    if not box or box["width"] < 50:
        raise RuntimeError(f"the canvas is not drawable (bounding box {box})")
    return box


async def _draw(page, listener, digit: int, timeout: float) -> tuple[float, bool]:
    """Draw ``digit``; seconds from the last pen up to settled, and whether the page shows it."""
    box = await _canvas_box(page, timeout)
    strokes = B.digit_strokes()[digit]

    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    t0 = 0.0
    for k, s in enumerate(strokes):
        await page.mouse.move(*at(s[0]))
        await page.mouse.down()
        for p in s[1:]:
            await page.mouse.move(*at(p), steps=2)
        if k == len(strokes) - 1:
            await page.evaluate("0")
            t0 = time.perf_counter()
        await page.mouse.up()
    seconds = await _settle(page, listener, t0, timeout)
    shown = await page.evaluate(B.READ_PREDICTIONS_JS)
    judge = next((v for k, v in shown.items() if k.lower().startswith("judge")), next(iter(shown.values()), None))
    return seconds, judge == str(digit)


async def _clear(page, listener, timeout: float) -> float:
    for loc in (page.locator('[data-testid="sketchpad-clear"]'),
                page.get_by_role("button", name="Clear canvas", exact=True),
                page.get_by_role("button", name="Clear", exact=True)):
        if await loc.count():
            await page.evaluate("0")
            t0 = time.perf_counter()
            await loc.first.click()
            return await _settle(page, listener, t0, timeout)
    raise LookupError('no "Clear" / "Clear canvas" button on the page')


async def _slider_step(page, listener, timeout: float) -> float:
    group = page.locator(".st-key-sl_0").locator(THUMB)
    thumb = group.first if await group.count() else page.locator("[data-testid='stSlider']").locator(THUMB).first
    await thumb.wait_for(state="attached", timeout=timeout * 1000)
    value = float(await thumb.evaluate("e => e.getAttribute('aria-valuenow') ?? e.value"))
    await thumb.focus()
    await page.evaluate("0")
    t0 = time.perf_counter()
    await page.keyboard.press("ArrowLeft" if value > 1.0 else "ArrowRight")
    return await _settle(page, listener, t0, timeout)


class BrowserUser:
    """One simulated user's session in a browser context (``--client browser``)."""

    def __init__(self, browser, url: str):
        self.browser, self.url = browser, url
        self.page = self.listener = None

    async def open(self, timeout: float) -> float:
        self.page, self.listener, seconds = await _open(self.browser, self.url + "/", timeout)
        return seconds

    async def switch(self, title: str, timeout: float) -> float:
        return await _switch(self.page, self.listener, title, timeout)

    async def draw(self, digit: int, timeout: float) -> tuple[float, bool]:
        return await _draw(self.page, self.listener, digit, timeout)

    async def clear(self, timeout: float) -> float:
        return await _clear(self.page, self.listener, timeout)

    async def slider_step(self, timeout: float) -> float:
        return await _slider_step(self.page, self.listener, timeout)

    async def recover(self, timeout: float) -> None:
        """After a lost gesture: start again from the first page (untimed)."""
        await self.page.goto(self.url + "/", wait_until="commit", timeout=timeout * 1000)
        await B.async_wait_finished(self.listener, time.perf_counter() - 0.001, timeout)

    async def close(self) -> None:
        if self.page is not None:
            await self.page.context.close()


async def user(level: Level, session, index: int, args, deadline: float) -> None:
    """One simulated user (``session``: a :class:`BrowserUser` or :class:`WsUser`): open the app,
    then cycle through the pages and their gestures until ``deadline``."""
    await asyncio.sleep(args.ramp * index / max(1, level.sessions))
    rng = random.Random(index)
    timeout = args.gesture_timeout
    if await level.timed(ROW_SESSION_START, lambda: session.open(timeout), args.verbose) is None:
        await session.close()
        return
    step = index  # users start at different points of the cycle
    try:
        while time.perf_counter() < deadline:
            title = CYCLE[step % len(CYCLE)]
            step += 1
            ok = await level.timed(ROW_SWITCH, lambda: session.switch(title, timeout), args.verbose)
            if ok is not None and time.perf_counter() < deadline:
                await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))
                if title == CYCLE[0]:
                    digit = rng.randrange(10)
                    result: dict[str, bool] = {}

                    async def pen_up() -> float:
                        seconds, right = await session.draw(digit, timeout)
                        result["right"] = right
                        return seconds

                    if await level.timed(ROW_PEN_UP, pen_up, args.verbose) is not None:
                        level.correct[0] += bool(result.get("right"))
                        level.correct[1] += 1
                    await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))
                    await level.timed(ROW_CLEAR, lambda: session.clear(timeout), args.verbose)
                elif title == CYCLE[1]:
                    await level.timed(ROW_SLIDER, lambda: session.slider_step(timeout), args.verbose)
            if ok is None:  # lost: start again from the first page, untimed
                try:
                    await session.recover(timeout)
                except Exception:  # noqa: BLE001
                    await asyncio.sleep(1.0)
            await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))
    finally:
        try:
            await session.close()
        except Exception:  # noqa: BLE001
            pass


# =============================================================================================
# the websocket client's user (--client ws)
# =============================================================================================

_FRAMES: dict[int, list[str]] = {}


def _frames(digit: int) -> list[str]:
    """The sketchpad's PNG data URLs for ``digit`` (live sends, then pen up), made once."""
    if digit not in _FRAMES:
        _FRAMES[digit] = W.drawing_frames(digit, live=LIVE_SENDS)
    return _FRAMES[digit]


async def _ws_open(url: str, timeout: float) -> tuple[W.WsSession, float]:
    session = W.WsSession(url)
    try:
        seconds = await session.open(timeout)
    except BaseException:
        await session.close()
        raise
    return session, seconds


async def _ws_draw(session: W.WsSession, digit: int, timeout: float) -> tuple[float, bool]:
    """Draw ``digit`` as the sketchpad sends it; seconds from pen up to its run's script_finished,
    and whether the judge's card shows the digit."""
    pad = session.widget("sketchpad", kind="bidi_component")
    *live, whole = _frames(digit)
    for frame in live:
        await session.send_value(pad, json_value=W.sketch_state(frame))
        await asyncio.sleep(LIVE_MS / 1000)
    seconds = await session.set_value(pad, timeout, json_value=W.sketch_state(whole))
    shown = session.predictions()
    judge = next((v for k, v in shown.items() if k.lower().startswith("judge")), next(iter(shown.values()), None))
    return seconds, judge == str(digit)


async def _ws_clear(session: W.WsSession, timeout: float) -> float:
    return await session.set_value(session.widget("sketchpad", kind="bidi_component"), timeout,
                                   json_value=W.sketch_state(None))


async def _ws_slider_step(session: W.WsSession, timeout: float) -> float:
    slider = session.widget("sl_0", kind="slider")
    value, step = float(slider.proto.value[0]), float(slider.proto.step or 0.25)
    target = value - step if value + step > float(slider.proto.max) else value + step
    slider.proto.value[:] = [target]
    return await session.set_value(slider, timeout, double_array_value=[target])


class WsUser:
    """One simulated user's session without a browser (``--client ws``)."""

    def __init__(self, url: str):
        self.url = url
        self.session: W.WsSession | None = None

    async def open(self, timeout: float) -> float:
        self.session, seconds = await _ws_open(self.url, timeout)
        return seconds

    async def switch(self, title: str, timeout: float) -> float:
        return await self.session.switch(title, timeout)

    async def draw(self, digit: int, timeout: float) -> tuple[float, bool]:
        return await _ws_draw(self.session, digit, timeout)

    async def clear(self, timeout: float) -> float:
        return await _ws_clear(self.session, timeout)

    async def slider_step(self, timeout: float) -> float:
        return await _ws_slider_step(self.session, timeout)

    async def recover(self, timeout: float) -> None:
        """After a lost gesture: a new session on the first page (untimed)."""
        await self.close()
        await self.open(timeout)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


async def _new_session_seconds(client: str, browser, url: str, timeout: float) -> float:
    """A brand-new session opens the first page and leaves; seconds to its first page."""
    if client == "ws":
        session, seconds = await _ws_open(url, timeout)
        await session.close()
        return seconds
    page, _, seconds = await _open(browser, url + "/", timeout)
    await page.context.close()
    return seconds


async def probe(level: Level, browser, url: str, args, deadline: float, row: str) -> None:
    """Every ``--probe-every`` seconds: a brand-new session opens the first page and leaves."""
    await asyncio.sleep(args.ramp)
    while time.perf_counter() + args.gesture_timeout / 4 < deadline:
        t_next = time.perf_counter() + args.probe_every
        await level.timed(row, lambda: _new_session_seconds(args.client, browser, url, args.gesture_timeout),
                          args.verbose)
        await asyncio.sleep(max(0.0, t_next - time.perf_counter()))


async def sampler(level: Level, server_pid: int | None, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if server_pid:
            level.rss.append((time.perf_counter(), B.rss_bytes(server_pid)))
        level.gen_rss_max = max(level.gen_rss_max, B.rss_bytes(
            os.getpid(), set(B.process_tree(server_pid)) if server_pid else set()))
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


async def run_level(p, n: int, args, tmp: Path) -> dict[str, Any]:
    level = Level(n)
    app = None
    if args.url:
        url = args.url.rstrip("/")
        server_pid = args.server_pid or pid_listening_on(int(urllib.parse.urlsplit(url).port or 80))
    else:
        cache = None if args.keep_cache else tempfile.mkdtemp(prefix="cache-", dir=tmp)
        app = B.App(port=args.port, cache_dir=cache, log_path=str(tmp / f"streamlit-{n}.log"))
        app.wait_healthy()
        url, server_pid = app.url, app.pid
    browser = None
    if args.client == "browser":
        browser = await p.chromium.launch(executable_path=B.chromium_path(), args=B.CHROMIUM_ARGS)
    out: dict[str, Any] = {"sessions": n, "url": url, "server_pid": server_pid, "client": args.client}
    try:
        await asyncio.sleep(1.0)
        rss_before = B.rss_bytes(server_pid) if server_pid else None
        # new sessions before the load: the very first one on this server, then one more
        for row in ((ROW_FIRST_FRESH, ROW_FIRST_IDLE) if app else (ROW_FIRST_IDLE, ROW_FIRST_IDLE)):
            await level.timed(row, lambda: _new_session_seconds(args.client, browser, url, args.gesture_timeout),
                              args.verbose)
        rss_warm = B.rss_bytes(server_pid) if server_pid else None

        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler(level, server_pid, stop))
        cpu0_server = B.cpu_seconds(server_pid) if server_pid else None
        cpu0_gen = generator_cpu(server_pid)
        load_start = [round(v, 2) for v in os.getloadavg()]
        t_start = time.perf_counter()
        deadline = t_start + args.ramp + args.duration
        tasks = [asyncio.create_task(user(level, BrowserUser(browser, url) if browser is not None else WsUser(url),
                                          i, args, deadline)) for i in range(n)]
        tasks.append(asyncio.create_task(probe(level, browser, url, args, deadline, ROW_FIRST_PROBE)))
        # every gesture is bounded by --gesture-timeout: so is the whole level
        done, pending = await asyncio.wait(tasks, timeout=args.ramp + args.duration + 2 * args.gesture_timeout + 30)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        wall = time.perf_counter() - t_start
        cpu_server = (B.cpu_seconds(server_pid) - cpu0_server) if server_pid else None
        cpu_gen = generator_cpu(server_pid) - cpu0_gen
        stop.set()
        await sampling
        await asyncio.sleep(3.0)
        rss_after = B.rss_bytes(server_pid) if server_pid else None
        during = [r for t, r in level.rss if t >= t_start]
        cores = os.cpu_count() or 1
        out.update({
            "wall_s": round(wall, 1), "cancelled_tasks": len(pending),
            "load_average": {"start": load_start, "end": [round(v, 2) for v in os.getloadavg()]},
            "server": {
                "rss_mb": {"before (idle, no session)": _mb(rss_before), "after the first 2 sessions": _mb(rss_warm),
                           "during (mean)": _mb(sum(during) / len(during)) if during else None,
                           "during (max)": _mb(max(during)) if during else None,
                           "after (sessions closed, +3 s)": _mb(rss_after)},
                "cpu_s": None if cpu_server is None else round(cpu_server, 1),
                "share_of_machine": None if cpu_server is None else round(cpu_server / (wall * cores), 3)},
            "generator": {"client": CLIENTS[args.client], "cpu_s": round(cpu_gen, 1),
                          "share_of_machine": round(cpu_gen / (wall * cores), 3),
                          "rss_mb_max": _mb(level.gen_rss_max)},
        })
    finally:
        if browser is not None:
            await browser.close()
        if app is not None:
            app.stop()
    out["gestures"] = [s.as_row() | {"timeouts": level.timeouts.get(name, 0)} for name, s in level.samples.items()]
    out["errors"] = sum(len(s.errors) for s in level.samples.values())
    out["timeouts"] = sum(level.timeouts.values())
    out["pen ups showing the drawn digit"] = f"{level.correct[0]}/{level.correct[1]}"
    return out


# =============================================================================================
# report
# =============================================================================================

def _row(level: dict[str, Any], name: str) -> dict[str, Any]:
    return next((g for g in level.get("gestures", []) if g["gesture"] == name), {})


def write_markdown(path: Path, data: dict[str, Any]) -> None:
    lines = ["# Dashboard under concurrent sessions (benchmarks/bench_load.py)", "", *B.machine_lines(data["machine"]),
             f"- Load generator: {CLIENTS[data['options']['client']]}",
             f"- Each level: {data['options']['duration']} s after a {data['options']['ramp']} s ramp; think time "
             f"{data['options']['think']} s (×0.5–1.5); a new-session probe every {data['options']['probe_every']} s; "
             f"gesture timeout {data['options']['gesture_timeout']} s",
             f"- Method: {data['method']}", ""]
    summary_rows = []
    for level in data["levels"]:
        if "error" in level:
            summary_rows.append({"sessions": level["sessions"], "errors": level["error"]})
            continue
        pen, switch, probe_row = _row(level, ROW_PEN_UP), _row(level, ROW_SWITCH), _row(level, ROW_FIRST_PROBE)
        summary_rows.append({
            "sessions": level["sessions"],
            "pen": f"{B._fmt_s(pen.get('median'))} / {B._fmt_s(pen.get('p95'))} (n {pen.get('n', 0)})",
            "switch": f"{B._fmt_s(switch.get('median'))} / {B._fmt_s(switch.get('p95'))} (n {switch.get('n', 0)})",
            "probe": f"{B._fmt_s(probe_row.get('median'))} / {B._fmt_s(probe_row.get('p95'))} (n {probe_row.get('n', 0)})",
            "errors": f"{level['errors']} ({level['timeouts']} timeouts)",
            "rss": level["server"]["rss_mb"].get("during (max)"),
            "server_cpu": f"{level['server']['cpu_s']} s ({100 * (level['server']['share_of_machine'] or 0):.0f} %)",
            "gen_cpu": f"{level['generator']['cpu_s']} s ({100 * level['generator']['share_of_machine']:.0f} %)",
        })
    lines += ["## Summary (median / p95, seconds)", "",
              B.markdown_table(summary_rows, [("sessions", "sessions"), ("pen", "pen up → predictions"),
                                              ("switch", "page switch"), ("probe", "new session's first page"),
                                              ("errors", "errors"), ("rss", "server RSS max (MB)"),
                                              ("server_cpu", "server CPU (share of machine)"),
                                              ("gen_cpu", "generator CPU (share of machine)")]), ""]
    cols = [("gesture", "Gesture"), ("n", "n"), ("median", "median (s)"), ("p95", "p95 (s)"), ("min", "min (s)"),
            ("max", "max (s)"), ("errors", "errors"), ("timeouts", "timeouts"), ("first_error", "first error")]
    for level in data["levels"]:
        lines += [f"## {level['sessions']} sessions", ""]
        if "error" in level:
            lines += [f"Failed: {level['error']}", ""]
            continue
        rows = [{**g, "first_error": g["error_messages"][0] if g["error_messages"] else ""} for g in level["gestures"]]
        rss = level["server"]["rss_mb"]
        lines += [B.markdown_table(rows, cols), "",
                  "- Server memory (RSS of the streamlit process tree, MB): "
                  + ", ".join(f"{k} {v}" for k, v in rss.items()),
                  f"- Server CPU: {level['server']['cpu_s']} s over {level['wall_s']} s of load",
                  f"- Load generator CPU: {level['generator']['cpu_s']} s ("
                  + ("this process + Playwright driver + Chromium" if level.get("client") == "browser" else
                     "this process: every session's websocket client")
                  + f"), RSS max {level['generator']['rss_mb_max']} MB",
                  f"- Pen ups showing the drawn digit: {level['pen ups showing the drawn digit']}",
                  f"- Machine load average (1, 5, 15 min) at the start {level['load_average']['start']}, "
                  f"at the end {level['load_average']['end']} (other work on the machine skews the figures)", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=positive_int, nargs="+", default=[5, 10, 20],
                        help=f"concurrent sessions, one level each (default 5 10 20; at most {MAX_SESSIONS})")
    parser.add_argument("--duration", type=positive_float, default=60.0,
                        help=f"seconds of load per level after the ramp (default 60, at most {MAX_DURATION})")
    parser.add_argument("--ramp", type=float, default=5.0, help="the sessions start spread over this many seconds")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a user's gestures (s)")
    parser.add_argument("--probe-every", type=positive_float, default=3.0,
                        help="seconds between new-session probes during the load (default 3)")
    parser.add_argument("--gesture-timeout", type=positive_float, default=60.0, help="a gesture's time limit (s)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="ws",
                        help="ws: browser-less websocket sessions (default, light); browser: headless Chromium")
    parser.add_argument("--url", help="a dashboard already running on this machine (else one is started per level)")
    parser.add_argument("--server-pid", type=positive_int, help="with --url: the server's pid (default: found "
                                                                "from the listening port)")
    parser.add_argument("--port", type=positive_int, help="port of the servers started (default: a free one)")
    parser.add_argument("--keep-cache", action="store_true",
                        help="use the usual DIGITLAB_CACHE instead of a fresh temporary folder per server")
    parser.add_argument("--out", default=str(B.REPO_ROOT / "benchmarks" / "results" / "load.json"),
                        help="the JSON file; the Markdown goes beside it with .md (default benchmarks/results/load.json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failed gestures")
    args = parser.parse_args(argv)
    if args.duration > MAX_DURATION:
        parser.error(f"--duration is capped at {MAX_DURATION} s")
    if max(args.sessions) > MAX_SESSIONS:
        parser.error(f"--sessions is capped at {MAX_SESSIONS}")
    if args.ramp < 0 or args.think < 0:
        parser.error("--ramp and --think cannot be negative")
    if args.url and not B.is_local_url(args.url):
        parser.error(f"--url must be on this machine (localhost, 127.x.x.x or [::1]), not {args.url!r}")
    return args


class _NoPlaywright:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc):
        return False


async def amain(args) -> dict[str, Any]:
    if args.client == "browser":
        from playwright.async_api import async_playwright
    else:
        async_playwright = _NoPlaywright

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="digitlab-load-"))
    levels = []
    try:
        async with async_playwright() as p:
            for n in args.sessions:
                print(f"[bench_load] {n} sessions for {args.duration:.0f} s …", flush=True)
                try:
                    levels.append(await run_level(p, n, args, tmp))
                except Exception as exc:  # noqa: BLE001 - one level failing must not lose the others
                    if args.verbose:
                        traceback.print_exc()
                    levels.append({"sessions": n, "error": _message(exc)})
                print(f"[bench_load] {n} sessions done", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"benchmark": "load", "machine": B.machine_info(), "client": CLIENTS[args.client],
            "seconds_total": round(time.perf_counter() - started, 1),
            "options": {k: v for k, v in vars(args).items() if k != "out"},
            "method": ("gesture → script_finished of the run it started (ForwardMsg on the session's websocket)"
                       + (" + quiet DOM (no [data-stale=true], main-area images complete, "
                          f"{B.QUIET_S} s)" if args.client == "browser" else
                          "; no browser: the server's share of the wait")),
            "levels": levels}


def main(argv=None) -> int:
    args = parse_args(argv)
    B.write_report(args.out, asyncio.run(amain(args)), write_markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
