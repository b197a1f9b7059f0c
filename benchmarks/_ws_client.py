"""A Streamlit session without a browser: the app's own websocket protocol, for load tests.

A browser spends most of a load test's CPU drawing pages (benchmarks/bench_load.py measured
80–92 % of the machine for the Chromium load generator against 5–11 % for the server). This client
speaks what the browser's Streamlit frontend speaks (``ws://HOST:PORT/_stcore/stream``: a
``BackMsg.rerun_script`` with the session's ``ClientState`` out, ``ForwardMsg``s back) and does
nothing else, so a few percent of one core drive tens of sessions. It reads what a gesture needs
from the messages themselves: the pages (``navigation``), the widgets and the fragment each one
lives in (``delta.new_element`` and ``delta.fragment_id``), the Draw page's prediction cards (its
markdown), and each run's ``new_session`` / ``script_finished``.

What it does not do: fetch or run the frontend's JavaScript, lay out or paint. A gesture's time
here is gesture → the server's ``script_finished`` of the run it started: the server's share of
what a user waits for (bench_ui.py measures the browser's share on an idle server).
The protocol follows streamlit 1.67 (``web/server/starlette/starlette_websocket.py``, the protos
in ``streamlit/proto``).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from benchmarks import _bench as B

#: an element kind -> the WidgetState field its value travels in (what the frontend sends)
WIDGET_KINDS = ("slider", "bidi_component", "radio", "multiselect", "button", "select_slider", "selectbox",
                "checkbox", "number_input", "text_input", "button_group", "component_instance")
#: a run counts as the last of a gesture when no other run starts within this many seconds after it
QUIET_S = 0.1
_CARD = re.compile(r'<div class="dl-card" data-run="([^"]+)">.*?<div class="dl-pred">([^<]*)</div>', re.S)


class ProtocolError(RuntimeError):
    """The server answered something this client does not understand, or closed the session."""


@dataclass
class Widget:
    """A widget the server drew: its id (the user key is its last part), kind and fragment."""
    id: str
    kind: str
    fragment_id: str
    proto: Any = None


@dataclass
class _Run:
    run_id: str
    markdown: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


def png_data_url(ink) -> str:
    """A float (H, W) picture in [0, 1] as the sketchpad sends it: a PNG ``data:`` URL, white on
    black, opaque (what ``canvas.toDataURL('image/png')`` gives)."""
    import numpy as np
    from PIL import Image

    grey = (np.clip(np.asarray(ink, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def drawing_frames(digit: int, live: int = 5, size: int = 280, width: int = 20) -> list[str]:
    """The PNG data URLs a sketchpad sends while ``digit`` is drawn (bench's strokes): ``live``
    partial drawings (the throttled live sends) and the whole digit last (pen up)."""
    strokes = B.digit_strokes()[digit]
    points = [(k, i) for k, s in enumerate(strokes) for i in range(1, len(s) + 1)]
    frames = []
    for j in range(1, live + 1):
        k, i = points[max(0, len(points) * j // (live + 1) - 1)]
        frames.append(png_data_url(B.rasterize(strokes[:k] + [strokes[k][:i]], size, width)))
    frames.append(png_data_url(B.rasterize(strokes, size, width)))
    return frames


class WsSession:
    """One browser-less Streamlit session (see the module's docstring).

    Args:
        url: the app's http URL on this machine, e.g. ``http://127.0.0.1:8501``.
    Raises (from its methods): ProtocolError (closed socket, an exception drawn by the app),
        TimeoutError (no final ``script_finished`` within the timeout).
    """

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        self.http = f"{parts.scheme}://{parts.netloc}"
        self.ws_url = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}{parts.path}/_stcore/stream"
        self.query = parts.query
        self.pages: dict[str, str] = {}       # page title -> page_script_hash
        self.page_hash = ""                   # the page shown now
        self.widgets: dict[str, Widget] = {}  # widget id -> Widget, from the current page's runs
        self.states: dict[str, Any] = {}      # widget id -> WidgetState this client keeps sending
        self.events: list[B.Event] = []
        self.runs: dict[str, _Run] = {}
        self.bytes_in = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._closed: str | None = None
        self._current = ""  # the run whose deltas are arriving
        self.last_run = ""  # the run that ended the last wait

    # ------------------------------------------------------------------ connection
    async def open(self, timeout: float = 60.0) -> float:
        """Connect and draw the first page; seconds from the connection's start to its script_finished."""
        from websockets.asyncio.client import connect

        t0 = time.perf_counter()
        self._ws = await asyncio.wait_for(
            connect(self.ws_url, subprotocols=["streamlit"], origin=self.http, max_size=None,
                    compression=None, open_timeout=timeout), timeout)
        self._reader = asyncio.create_task(self._read())
        await self._rerun(fragment_id="")
        return (await self._wait(t0, timeout)).t - t0

    async def close(self) -> None:
        """Close the websocket (the server ends the session) and stop reading."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass

    # ------------------------------------------------------------------ gestures
    async def switch(self, title: str, timeout: float = 60.0) -> float:
        """Go to the page titled ``title`` (as a sidebar link does); seconds to its script_finished."""
        if title not in self.pages:
            raise ProtocolError(f"no page titled {title!r} (the app has {sorted(self.pages)})")
        self.widgets.clear()
        self.states.clear()
        t0 = time.perf_counter()
        await self._rerun(page_hash=self.pages[title], fragment_id="")
        return (await self._wait(t0, timeout)).t - t0

    def widget(self, key: str, kind: str | None = None) -> Widget:
        """The widget of the current page whose id ends with the user key ``key`` (or, for a key
        that is no widget id, the first widget of ``kind``)."""
        for widget in self.widgets.values():
            if widget.id.endswith("-" + key) or widget.id == key:
                return widget
        for widget in self.widgets.values():
            if kind and widget.kind == kind:
                return widget
        raise ProtocolError(f"no widget {key!r} on this page (it has {sorted(self.widgets)})")

    async def set_value(self, widget: Widget, timeout: float = 60.0, **value) -> float:
        """Send one new value of ``widget`` (e.g. ``double_array_value=[0.5]`` for a slider,
        ``json_value=...`` for a component's state) and rerun its fragment, as the frontend does;
        seconds to the script_finished of that run."""
        t0 = time.perf_counter()
        await self.send_value(widget, **value)
        return (await self._wait(t0, timeout)).t - t0

    async def send_value(self, widget: Widget, **value) -> None:
        """Like :meth:`set_value` without waiting (the live sends while the pen is down)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=widget.id)
        for name, v in value.items():
            target = getattr(state, name)
            if hasattr(target, "data"):  # the array types
                target.data.extend(v)
            else:
                setattr(state, name, v)
        self.states[widget.id] = state
        await self._rerun(fragment_id=widget.fragment_id)

    async def wait_for_text(self, text: str, timeout: float = 60.0) -> float:
        """Wait until one of the last runs has drawn markdown containing ``text`` (e.g. a picture a
        background thread made after the gesture's own run, shown by a later run); seconds waited.

        Raises:
            TimeoutError: no run drew it within ``timeout`` seconds; ProtocolError: the connection closed.
        """
        t0 = time.perf_counter()
        deadline = t0 + timeout
        while not any(text in body for run in self.runs.values() for body in run.markdown):
            if self._closed:
                raise ProtocolError(self._closed)
            if time.perf_counter() >= deadline:
                raise TimeoutError(f"no run drew {text!r} within {timeout:.0f} s")
            await self._next_change(deadline - time.perf_counter())
        return time.perf_counter() - t0

    def predictions(self) -> dict[str, str]:
        """Each model's answer on the Draw page's cards (run name -> digit shown), as drawn by the
        run that ended the last gesture; empty when that run drew no cards."""
        cards: dict[str, str] = {}
        for body in getattr(self.runs.get(self.last_run), "markdown", []):
            cards.update(_CARD.findall(body))
        return cards

    # ------------------------------------------------------------------ protocol
    async def _rerun(self, page_hash: str | None = None, fragment_id: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if self._closed:
            raise ProtocolError(self._closed)
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash if page_hash is None else page_hash
        cs.fragment_id = fragment_id
        cs.widget_states.widgets.extend(self.states.values())
        await self._ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for frame in self._ws:
                if not isinstance(frame, (bytes, bytearray)):
                    continue
                self.bytes_in += len(frame)
                msg = ForwardMsg.FromString(bytes(frame))
                self._handle(msg, time.perf_counter())
        except Exception as exc:  # noqa: BLE001 - the waiting gesture reports it
            self._closed = f"the connection closed ({type(exc).__name__})"
        else:
            self._closed = "the server closed the connection"
        self._changed.set()

    def _handle(self, msg, t: float) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kind = msg.WhichOneof("type")
        run_id = msg.metadata.run.script_run_id or self._current
        if kind == "new_session":
            self._current = run_id
            self.events.append(B.Event(t, "new_session", run_id, len(msg.metadata.run.fragment_ids) > 0))
            self.runs[run_id] = _Run(run_id)
            if len(self.runs) > 8:  # keep the last few runs' markdown only
                self.runs.pop(next(iter(self.runs)))
            if msg.new_session.page_script_hash:
                self.page_hash = msg.new_session.page_script_hash
        elif kind == "navigation":
            for page in msg.navigation.app_pages:
                self.pages[page.page_name] = page.page_script_hash
            if msg.navigation.page_script_hash:
                self.page_hash = msg.navigation.page_script_hash
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            which = element.WhichOneof("type")
            if which in WIDGET_KINDS and getattr(getattr(element, which), "id", ""):
                wid = getattr(element, which).id
                self.widgets[wid] = Widget(wid, which, msg.delta.fragment_id, getattr(element, which))
            elif which == "markdown" and run_id in self.runs:
                self.runs[run_id].markdown.append(element.markdown.body)
            elif which == "html" and run_id in self.runs:
                self.runs[run_id].markdown.append(element.html.body)
            elif which == "exception" and run_id in self.runs:
                self.runs[run_id].exceptions.append(element.exception.message or element.exception.type)
        elif kind == "script_finished":
            status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            self.events.append(B.Event(t, "script_finished", run_id, len(msg.metadata.run.fragment_ids) > 0,
                                       status))
            self._changed.set()
        elif kind == "page_not_found" and run_id in self.runs:
            self.runs[run_id].exceptions.append("page not found")

    def _settled_event(self, t0: float) -> B.Event | None:
        """The final script_finished of the last run that started at or after ``t0``, or None."""
        started = [ev for ev in self.events if ev.t >= t0 and ev.kind == "new_session"]
        if not started:
            return None
        last = started[-1]
        return next((ev for ev in self.events if ev.t >= last.t and B.is_final(ev)
                     and (ev.run_id == last.run_id or not ev.run_id)), None)

    async def _wait(self, t0: float, timeout: float) -> B.Event:
        """Wait until the runs started since ``t0`` are over: the last one's final script_finished,
        with no other run starting within :data:`QUIET_S` after it (a value sent before ``t0``, e.g.
        a live drawing, may start its run after ``t0``: the last run is the one that shows the
        latest values). Returns that script_finished; the gesture took ``event.t - t0`` seconds."""
        deadline = time.perf_counter() + timeout
        while True:
            event = self._settled_event(t0)
            now = time.perf_counter()
            if event is not None and now - event.t >= QUIET_S:
                shown = self.runs.get(event.run_id)
                if shown is not None and shown.exceptions:
                    raise ProtocolError("the page shows an exception: " + shown.exceptions[-1][:200])
                del self.events[:-50]
                self.last_run = event.run_id
                return event
            if self._closed:
                raise ProtocolError(self._closed)
            if now >= deadline:
                raise TimeoutError(f"no script_finished within {timeout:.0f} s")
            await self._next_change(deadline - now if event is None else min(deadline - now, QUIET_S - (now - event.t)))

    async def _next_change(self, seconds: float) -> None:
        """Wait for the next script_finished (or the connection's end), at most ``seconds``."""
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=max(0.001, seconds))
        except asyncio.TimeoutError:
            pass


def sketch_state(data_url: str | None) -> str:
    """The sketchpad component's state as its JavaScript sends it (``setStateValue('drawing', …)``)."""
    return json.dumps({"drawing": data_url})
