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


@contextmanager
def running_app(env: dict | None = None, timeout: float = 120.0, app: Path | None = None):
    """Start ``streamlit run <app>`` (default: the dashboard) headless on a free port; yield its URL."""
    port = free_port()
    log = open(REPO_ROOT / ".cache" / f"streamlit-{port}.log", "w") if (REPO_ROOT / ".cache").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app or REPO_ROOT / "dashboard" / "app.py"),
         "--server.headless", "true", "--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
    """Every ForwardMsg the page's websocket receives, parsed (for checking what a gesture reran)."""

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.messages: list = []

        def on_socket(ws):
            def on_frame(payload):
                if isinstance(payload, (bytes, bytearray)):
                    try:
                        self.messages.append(ForwardMsg.FromString(bytes(payload)))
                    except Exception:  # not a ForwardMsg (e.g. a ping)
                        pass
            ws.on("framereceived", on_frame)

        page.on("websocket", on_socket)

    def mark(self) -> int:
        return len(self.messages)

    def since(self, mark: int) -> list:
        return self.messages[mark:]
