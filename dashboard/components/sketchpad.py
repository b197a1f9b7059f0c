"""A freehand drawing canvas that answers while the pen is down (a custom component v2, no iframe).

The user draws white strokes on a black canvas with a mouse, a pen or a finger (pointer events, round
caps and joins, quadratic smoothing through the stroke's midpoints). While the pen is down the drawing
is sent to Python at most once every ``live_ms`` milliseconds (throttled, trailing), and once more at
pen up, as a PNG ``data:`` URL (``setStateValue("drawing", ...)``). Python decodes it into float32 ink.
Mounted inside an ``@st.fragment``, each send reruns only that fragment.

The strokes are kept as vectors in the browser (per ``key``, for as long as the page is open), so they
survive reruns, a change of ``brush`` (it applies to the next strokes) and a remount of the component
(e.g. after switching a radio away from the canvas and back: the drawing is sent again once).

Test and benchmark hooks: the ``<canvas>`` has ``data-testid="sketchpad-canvas"``; its root
``<div data-testid="sketchpad">`` carries ``data-sent`` (how many values were sent to Python since
the component was mounted), ``data-strokes`` (how many finished strokes are drawn) and ``data-key``.
The component is not style-isolated (no shadow DOM): ``document.querySelector`` finds these.
"""

from __future__ import annotations

import base64
import io

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

_CSS = """
.dl-sketchpad { display: inline-flex; flex-direction: column; gap: 6px; max-width: 100%; }
.dl-sketchpad .dl-sk-canvas { display: block; background: #000; border-radius: 6px; touch-action: none;
  cursor: crosshair; max-width: 100%; height: auto; -webkit-user-select: none; user-select: none; }
.dl-sketchpad .dl-sk-bar { display: flex; gap: 6px; }
.dl-sketchpad .dl-sk-btn { font: inherit; font-family: var(--st-font, sans-serif); font-size: 0.875rem;
  padding: 3px 12px; border-radius: var(--st-button-radius, 6px); cursor: pointer;
  border: 1px solid var(--st-border-color, #d5dae0); background: var(--st-background-color, #fff);
  color: var(--st-text-color, #31333f); }
.dl-sketchpad .dl-sk-btn:hover:not(:disabled) { border-color: var(--st-primary-color, #ff4b4b);
  color: var(--st-primary-color, #ff4b4b); }
.dl-sketchpad .dl-sk-btn:disabled { opacity: 0.45; cursor: default; }
"""

_JS = r"""
// Strokes per user key, for as long as the page lives: they survive a remount of the component.
const STORE = new Map();

function traceStroke(ctx, s) {
  const p = s.pts, n = p.length / 2;
  ctx.lineWidth = s.w;
  if (n === 1) {
    ctx.beginPath(); ctx.arc(p[0], p[1], s.w / 2, 0, 2 * Math.PI); ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(p[0], p[1]);
  if (n === 2) {
    ctx.lineTo(p[2], p[3]);
  } else {
    for (let i = 1; i < n - 1; i++) {
      ctx.quadraticCurveTo(p[2 * i], p[2 * i + 1], (p[2 * i] + p[2 * i + 2]) / 2, (p[2 * i + 1] + p[2 * i + 3]) / 2);
    }
    ctx.lineTo(p[2 * n - 2], p[2 * n - 1]);
  }
  ctx.stroke();
}

function paint(ctx, w, h, strokes) {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff';
  ctx.lineCap = 'round'; ctx.lineJoin = 'round';
  for (const s of strokes) traceStroke(ctx, s);
}

function createPad(root) {
  const canvas = root.querySelector('canvas');
  const undoBtn = root.querySelector('.dl-sk-undo');
  const clearBtn = root.querySelector('.dl-sk-clear');
  const ctx = canvas.getContext('2d');
  const layer = document.createElement('canvas');       // finished strokes, at device resolution
  const lctx = layer.getContext('2d');
  const out = document.createElement('canvas');         // what is sent: CSS-pixel resolution
  const octx = out.getContext('2d');
  const pad = {
    key: null, w: 0, h: 0, dpr: 1, brush: 20, liveMs: 150, setState: null,
    strokes: [], current: null, pointer: null, sent: 0, lastSend: -1e9, timer: null, frame: 0,
  };

  function resize(w, h) {
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    if (w === pad.w && h === pad.h && dpr === pad.dpr) return;
    pad.w = w; pad.h = h; pad.dpr = dpr;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    canvas.style.width = w + 'px';
    canvas.style.aspectRatio = w + ' / ' + h;
    layer.width = canvas.width; layer.height = canvas.height;
    out.width = w; out.height = h;
    rebuild();
  }
  function rebuild() {
    lctx.setTransform(pad.dpr, 0, 0, pad.dpr, 0, 0);
    paint(lctx, pad.w, pad.h, pad.strokes);
    render();
  }
  function render() {
    pad.frame = 0;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(layer, 0, 0);
    if (pad.current) {
      ctx.setTransform(pad.dpr, 0, 0, pad.dpr, 0, 0);
      ctx.strokeStyle = '#fff'; ctx.fillStyle = '#fff';
      ctx.lineCap = 'round'; ctx.lineJoin = 'round';
      traceStroke(ctx, pad.current);
    }
    root.dataset.strokes = String(pad.strokes.length);
    undoBtn.disabled = pad.strokes.length === 0;
  }
  function requestRender() {
    if (!pad.frame) pad.frame = requestAnimationFrame(render);
  }
  function payload() {
    const all = pad.current ? pad.strokes.concat([pad.current]) : pad.strokes;
    if (all.length === 0) return null;
    octx.setTransform(1, 0, 0, 1, 0, 0);
    paint(octx, pad.w, pad.h, all);
    return out.toDataURL('image/png');
  }
  function send() {
    if (pad.timer !== null) { clearTimeout(pad.timer); pad.timer = null; }
    pad.lastSend = performance.now();
    pad.sent += 1;
    root.dataset.sent = String(pad.sent);
    if (pad.setState) pad.setState('drawing', payload());
  }
  function sendSoon() {  // throttled, trailing: at most once every liveMs while the pen is down
    if (pad.liveMs <= 0 || pad.timer !== null) return;
    const wait = Math.max(0, pad.lastSend + pad.liveMs - performance.now());
    pad.timer = setTimeout(() => { pad.timer = null; if (pad.current) send(); }, wait);
  }
  function at(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.w / (r.width || pad.w), (e.clientY - r.top) * pad.h / (r.height || pad.h)];
  }
  function onDown(e) {
    if (pad.current || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointer */ }
    pad.pointer = e.pointerId;
    pad.current = { w: pad.brush, pts: at(e) };
    requestRender();
    sendSoon();
  }
  function onMove(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    e.preventDefault();
    const events = (typeof e.getCoalescedEvents === 'function' && e.getCoalescedEvents().length) ? e.getCoalescedEvents() : [e];
    const p = pad.current.pts;
    let added = false;
    for (const ev of events) {
      const [x, y] = at(ev);
      const dx = x - p[p.length - 2], dy = y - p[p.length - 1];
      if (dx * dx + dy * dy >= 0.5) { p.push(x, y); added = true; }
    }
    if (added) { requestRender(); sendSoon(); }
  }
  function onUp(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    const s = pad.current;
    pad.current = null; pad.pointer = null;
    pad.strokes.push(s);
    lctx.setTransform(pad.dpr, 0, 0, pad.dpr, 0, 0);
    lctx.strokeStyle = '#fff'; lctx.fillStyle = '#fff'; lctx.lineCap = 'round'; lctx.lineJoin = 'round';
    traceStroke(lctx, s);
    render();
    send();   // always once at pen up
  }
  function onUndo() {
    if (pad.current || pad.strokes.length === 0) return;
    pad.strokes.pop();
    rebuild();
    send();
  }
  function onClear() {
    pad.current = null; pad.pointer = null;
    pad.strokes.length = 0;
    rebuild();
    send();
  }
  canvas.addEventListener('pointerdown', onDown);
  canvas.addEventListener('pointermove', onMove);
  canvas.addEventListener('pointerup', onUp);
  canvas.addEventListener('pointercancel', onUp);
  canvas.addEventListener('lostpointercapture', onUp);
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  undoBtn.addEventListener('click', onUndo);
  clearBtn.addEventListener('click', onClear);

  pad.update = (data, setStateValue) => {
    pad.setState = setStateValue;
    const fresh = pad.key === null;
    const key = String(data.key);
    if (key !== pad.key) {
      if (!STORE.has(key)) STORE.set(key, []);
      pad.strokes = STORE.get(key);
      pad.key = key;
      pad.w = 0;   // force a rebuild with the key's strokes
    }
    pad.brush = Math.max(1, Number(data.brush) || 20);
    pad.liveMs = Math.max(0, Number(data.live_ms) || 0);
    clearBtn.textContent = String(data.clear_label ?? 'Clear');
    root.dataset.key = key;
    resize(Math.max(1, Math.round(Number(data.width) || 280)), Math.max(1, Math.round(Number(data.height) || 280)));
    // A remount (same key, new DOM) after strokes were drawn: Python may have dropped the value
    // while the component was not on the page, so send the drawing again once.
    if (fresh && pad.strokes.length > 0) send();
  };
  pad.destroy = () => {
    if (pad.timer !== null) clearTimeout(pad.timer);
    if (pad.frame) cancelAnimationFrame(pad.frame);
    pad.setState = null;
  };
  return pad;
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const root = parentElement.querySelector('.dl-sketchpad');
  if (!root) return;
  // Streamlit calls this function again with the same DOM whenever `data` changes (a new brush...):
  // the pad is created once per DOM and only updated afterwards.
  if (!root.__dlPad) root.__dlPad = createPad(root);
  const pad = root.__dlPad;
  pad.update(data || {}, setStateValue);
  return () => pad.destroy();
}
"""

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
