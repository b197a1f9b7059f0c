"""Real-browser helpers for the tests: start the dashboard, drive Debian's chromium with Playwright.

Playwright's own browser download does not work offline, so the system chromium is launched
(../shared/NOTES.md, "Testing in a real browser").
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from core.paths import REPO_ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Path of the system chromium; a clear error (not a skip) when it is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("chromium is not installed: run `bash scripts/setup.sh --test` "
                           "(it installs Debian's chromium), or `apt-get install -y chromium`")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: the line streamlit prints once its server listens (headless or not)
READY_LINE = "You can now view your Streamlit app"


@contextmanager
def running_app(env: dict | None = None, timeout: float = 120.0, app: Path | None = None):
    """Start ``streamlit run <app>`` (default: the dashboard) headless on a free port; yield its URL
    once the server says it listens (read from its output, no polling) and answers its health check.

    Raises:
        RuntimeError: the server exited, or did not start within ``timeout`` seconds (its last output
            lines are in the message).
    """
    port = free_port()
    log = open(REPO_ROOT / ".cache" / f"streamlit-{port}.log", "w") if (REPO_ROOT / ".cache").is_dir() else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app or REPO_ROOT / "dashboard" / "app.py"),
         "--server.headless", "true", "--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, errors="replace")
    url = f"http://127.0.0.1:{port}"
    listening, ended = threading.Event(), threading.Event()
    tail: list[str] = []

    def pump() -> None:  # reads the server's output for its whole life (a full pipe would block it)
        for line in proc.stdout:
            tail[:] = (tail + [line.rstrip()])[-20:]
            if log is not None:
                log.write(line)
                log.flush()
            if READY_LINE in line:
                listening.set()
        ended.set()
        listening.set()  # wake the waiter: the server is gone

    reader = threading.Thread(target=pump, name=f"streamlit-{port}-output", daemon=True)
    reader.start()
    try:
        if not listening.wait(timeout):
            raise RuntimeError(f"streamlit did not start on {url} within {timeout:.0f} s; its last lines: {tail}")
        if ended.is_set():
            raise RuntimeError(f"streamlit exited with code {proc.wait(timeout=10)}; its last lines: {tail}")
        with urllib.request.urlopen(url + "/_stcore/health", timeout=30) as response:
            if response.status != 200:
                raise RuntimeError(f"streamlit's health check on {url} answered {response.status}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        if log is not None:
            log.close()


def next_frame(page, frames: int = 2) -> None:
    """Wait until the page has drawn ``frames`` more animation frames (what a pointer event or a
    component update changed is then on screen)."""
    page.evaluate("""n => new Promise(done => {
        const step = k => k <= 0 ? done() : requestAnimationFrame(() => step(k - 1));
        step(n); })""", frames)


def app_idle(page, timeout: float = 60.0) -> None:
    """Wait until no script run (whole page or fragment) is in progress: Streamlit marks its root
    ``[data-testid=stApp]`` with ``data-test-script-state="notRunning"``."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached",
                                                                                     timeout=timeout * 1000)


def stroke(page, box: dict, points: list[tuple[float, float]]) -> None:
    """Draw one stroke through ``points`` given as fractions (0–1) of the canvas box."""
    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*at(p), steps=4)
    page.mouse.up()


def one_stroke() -> list[tuple[float, float]]:
    """A '1': a slightly slanted vertical bar."""
    return [(0.52, 0.15), (0.50, 0.50), (0.48, 0.85)]


def zero_stroke() -> list[tuple[float, float]]:
    """A '0': a closed upright ellipse."""
    return [(0.5 + 0.22 * math.sin(t), 0.5 - 0.34 * math.cos(t))
            for t in [2 * math.pi * i / 40 for i in range(42)]]


def read_predictions(page) -> dict[str, str]:
    """``{run label: predicted digit}`` from the draw page's prediction cards, read in one step."""
    return page.evaluate("""() => Object.fromEntries(
        Array.from(document.querySelectorAll('.dl-card[data-run]')).map(card => [
            (card.querySelector('.dl-label') || {}).innerText || '',
            ((card.querySelector('.dl-pred') || {}).innerText || '').trim()]))""")


class FrameLog:
    """Every ForwardMsg the page's websocket receives, parsed (for checking what a gesture reran), and
    waits on them as the frames arrive."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.messages: list = []
        self.socket = None  # the latest websocket of the page (the app's own, after a navigation too)
        self._early = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")

        def on_socket(ws):
            def on_frame(payload):
                if isinstance(payload, (bytes, bytearray)):
                    try:
                        self.messages.append(ForwardMsg.FromString(bytes(payload)))
                    except Exception:  # not a ForwardMsg (e.g. a ping)
                        pass
            if "_stcore/stream" in ws.url:
                self.socket = ws
            ws.on("framereceived", on_frame)

        page.on("websocket", on_socket)

    def mark(self) -> int:
        return len(self.messages)

    def since(self, mark: int) -> list:
        return self.messages[mark:]

    def finished_runs(self, mark: int) -> list:
        """The ``script_finished`` messages (not those of runs cut short by a newer rerun) of the runs
        that started (``new_session``) after ``mark``, in order."""
        started, done = set(), []
        for message in self.messages[mark:]:
            kind = message.WhichOneof("type")
            run = message.metadata.run.script_run_id
            if kind == "new_session":
                started.add(run)
            elif kind == "script_finished" and message.script_finished != self._early and run in started:
                done.append(message)
        return done

    def wait_for_runs(self, mark: int, count: int = 1, timeout: float = 60.0) -> list:
        """Wait, frame by frame as the websocket delivers them, until ``count`` runs that started after
        ``mark`` have finished; return their ``script_finished`` messages.

        Raises:
            AssertionError: fewer finished within ``timeout`` seconds.
        """
        from playwright.sync_api import Error as PlaywrightError

        deadline = time.monotonic() + timeout
        while len(done := self.finished_runs(mark)) < count:
            left = deadline - time.monotonic()
            if left <= 0 or self.socket is None:
                raise AssertionError(f"{len(done)} of {count} script runs finished within {timeout:.0f} s")
            try:  # Playwright delivers frames (to on_frame above, too) only while the test waits on it
                self.socket.wait_for_event("framereceived", timeout=left * 1000)
            except PlaywrightError:  # timed out, or the socket closed: the loop says which
                if self.socket.is_closed():
                    raise AssertionError("the page's websocket closed while waiting for a script run") from None
        return done
