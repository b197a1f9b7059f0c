"""A freehand drawing canvas that answers while the pen is down (a custom component v2, no iframe).

The user draws white strokes on a black canvas with a mouse, a pen or a finger (pointer events, round
caps and joins, quadratic smoothing through the stroke's midpoints). While the pen is down the drawing
is sent to Python at most once every ``live_ms`` milliseconds (throttled, trailing), and once more at
pen up, as a PNG ``data:`` URL (``setStateValue("drawing", ...)``). Python decodes it into float32 ink.
Mounted inside an ``@st.fragment``, each send reruns only that fragment.

Why our own: streamlit-drawable-canvas, the drawing canvas Streamlit apps use (Fabric.js), sends
the drawing to Python only when a drawn object is finished, that is at pen up (its
``update_streamlit``: "send canvas data to Streamlit when an object or selection is updated, or on
mouse up"). Here the strokes are sent while the pen is still down, so the Draw page's predictions
follow the pen as the digit grows.

The strokes are kept as vectors in the browser (per ``key``, for as long as the page is open), so they
survive reruns, a change of ``brush`` (it applies to the next strokes) and a remount of the component
(e.g. after switching a radio away from the canvas and back: the drawing is sent again once).

Test and benchmark hooks: the ``<canvas>`` has ``data-testid="sketchpad-canvas"``; its root
``<div data-testid="sketchpad">`` carries ``data-sent`` (how many values were sent to Python since
the component was mounted), ``data-strokes`` (how many finished strokes are drawn) and ``data-key``.
The component is not style-isolated (no shadow DOM): ``document.querySelector`` finds these.

The markup is :data:`_HTML` below; the style and the script are ``sketchpad.css`` and
``sketchpad.js`` beside this file (package data), read once at import.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import streamlit as st

#: payloads longer than this (characters of the data URL) are refused without decoding
MAX_PAYLOAD_CHARS = 4_000_000
#: decoded pictures larger than this (pixels, width × height) are refused
MAX_PIXELS = 4096 * 4096
_PNG_PREFIX = "data:image/png;base64,"

_HTML = """
<div class="dl-sketchpad" data-testid="sketchpad" data-sent="0" data-strokes="0">
  <canvas class="dl-sk-canvas" data-testid="sketchpad-canvas"></canvas>
  <div class="dl-sk-bar">
    <button type="button" class="dl-sk-btn dl-sk-undo" data-testid="sketchpad-undo" title="Undo the last stroke">Undo</button>
    <button type="button" class="dl-sk-btn dl-sk-clear" data-testid="sketchpad-clear">Clear</button>
  </div>
</div>
"""

# the component's style and script, beside this file (package data, read once at import)
_CSS = Path(__file__).with_suffix(".css").read_text(encoding="utf-8")
_JS = Path(__file__).with_suffix(".js").read_text(encoding="utf-8")

_component = st.components.v2.component(
    "digit_lab_sketchpad", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def _ignore() -> None:
    """State-change callback: registering it declares the ``drawing`` state; the fragment rerun does the work."""


def decode_drawing(payload: object) -> np.ndarray | None:
    """Decode the sketchpad's payload into ink.

    Args:
        payload: the value the component sends, a ``data:image/png;base64,...`` URL of the canvas
            (white ink on black), or None / an empty string after a clear.

    Returns:
        float32 array (H, W) in [0, 1] (1 = full white ink), H and W the canvas's height and width
        in CSS pixels; None when the payload is empty, holds no ink at all, or is malformed (not a
        string, not a PNG data URL, bad base64, not a decodable PNG, too large). Never raises.
        A transparent pixel counts as black (no ink).
    """
    if not isinstance(payload, str) or not payload.startswith(_PNG_PREFIX) or len(payload) > MAX_PAYLOAD_CHARS:
        return None
    try:
        from PIL import Image

        raw = base64.b64decode(payload[len(_PNG_PREFIX):], validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if image.format != "PNG" or image.width * image.height > MAX_PIXELS or min(image.size) < 1:
                return None
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    except Exception:  # bad base64, not a PNG, truncated data, decompression bomb...: no drawing
        return None
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ink = np.clip(grey * rgba[..., 3], 0.0, 1.0).astype(np.float32)
    if not np.any(ink > 0.0):
        return None
    return ink


def sketchpad(key: str, width: int = 280, height: int = 280, brush: int = 20, live_ms: int = 150,
              clear_label: str = "Clear") -> np.ndarray | None:
    """A black canvas to draw a digit on in white; returns what is drawn.

    Args:
        key: the component's key (required, unique in the app). The strokes are kept per key while
            the page is open; a new key gives a blank canvas (the way to clear it from Python).
        width, height: canvas size in CSS pixels (and the returned array's W and H).
        brush: line width of the next strokes, in CSS pixels (changing it keeps the drawing).
        live_ms: while the pen is down the drawing is sent at most once every ``live_ms``
            milliseconds (throttled, trailing); it is always sent at pen up. 0 sends at pen up only.
        clear_label: text of the component's clear button (an Undo button removes the last stroke).

    Returns:
        float32 array (height, width) in [0, 1], white ink = 1, on black = 0; None when nothing is
        drawn, after Clear (or Undo of the last stroke), or when the payload cannot be decoded.

    Raises:
        ValueError: when width, height or brush is not a positive integer or live_ms is negative.

    Each send is a ``setStateValue``: inside an ``@st.fragment`` it reruns only that fragment.
    """
    for name, value in (("width", width), ("height", height), ("brush", brush)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"The sketchpad's {name} must be a positive whole number of pixels, not {value!r}.")
    if isinstance(live_ms, bool) or not isinstance(live_ms, (int, float, np.integer, np.floating)) or live_ms < 0:
        raise ValueError(f"The sketchpad's live_ms must be zero or a positive number of milliseconds, not {live_ms!r}.")
    data = {"key": str(key), "width": int(width), "height": int(height), "brush": int(brush),
            "live_ms": float(live_ms), "clear_label": str(clear_label)}
    result = _component(key=key, data=data, default={"drawing": None}, on_drawing_change=_ignore,
                        width="content")
    return decode_drawing(result.get("drawing") if result is not None else None)
