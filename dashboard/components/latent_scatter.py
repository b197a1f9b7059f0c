"""A fast scatter plot of 2-D codes coloured by digit, drawn on an HTML canvas (a custom component v2).

Why our own: the two gestures the latent pages are built on are offered by no chart Streamlit draws.

- **Hover thumbnails**: the image of the point under the pointer appears beside it at once, drawn in
  the browser from one sprite atlas sent with the points. Plotly (``st.plotly_chart``) shows only
  text in its hover labels and sends Python no hover events (Streamlit has none for any element:
  streamlit/streamlit#7030 asks for them), so no page could draw the image either.
- **Probing empty plane space**: in ``drag="probe"`` a click or a drag anywhere on the plot, where
  no point is too, reports the data coordinates under the pointer, so the 2-D latent plane page
  decodes that place of the plane. ``st.plotly_chart(on_select=...)`` reports only selections of
  existing points (``selection_mode`` "points", "box", "lasso"); a click on empty space tells Python
  nothing (click events: streamlit/streamlit#8824).

Made for 10,000 points and more: the points are drawn once per layout on a canvas, and hovering, box
selection and the probe crosshair are drawn on a second canvas over it, so no gesture re-renders the
points in Python or re-sends them. What the user does comes back with ``setStateValue``:

- ``drag="select"``: dragging draws a box; at release the indices of the (visible) points inside it are
  sent (``"selection"``); a double click clears the selection. A page can also set the selection
  (``selected=``, e.g. what a box on another scatter chose: linked views); the component then shows
  it and sends it back, so Python's value is always what is drawn. Scatters given one ``link`` name
  share their boxes in the browser at once, matched by ``ids`` (no round trip to Python).
- ``drag="probe"``: a click, or a drag (every ~60 ms, and at release), sends the data coordinates under
  the pointer (``"point"``); a crosshair marks it.

Mounted inside an ``@st.fragment``, each of these reruns only that fragment. Hovering a point shows its
digit and index, and its image when ``thumbnails`` are given (sent once as one PNG sprite atlas). The
legend's digits are buttons: a click hides or shows that digit (in the browser only; hidden points can
be neither hovered nor selected).

Test and benchmark hooks (no shadow DOM, ``document.querySelector`` finds them): the root
``[data-testid="latent-scatter"]`` with ``data-sent`` (values sent), ``data-shown`` (points drawn),
``data-selected``; the event canvas ``[data-testid="scatter-canvas"]`` (CSS-pixel coordinates; its
``data-plot`` attribute is the plot rectangle ``left,top,right,bottom`` and ``data-view`` the data
range ``x0,x1,y0,y1``); the tooltip ``[data-testid="scatter-tooltip"]`` (``data-index``); the text
line ``[data-testid="scatter-status"]``; legend buttons ``[data-testid="scatter-legend-<digit>"]``.

The markup is :data:`_HTML` below; the style and the script are ``latent_scatter.css`` and
``latent_scatter.js`` beside this file (package data), read once at import.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import streamlit as st

#: digit d is drawn in DIGIT_PALETTE[d]: the dashboard's digit colours (dashboard/common.py)
from dashboard.common import DIGIT_COLOURS as DIGIT_PALETTE

THUMB = 28
DRAG_MODES = ("select", "probe")
_ATLAS_CACHE: OrderedDict[bytes, tuple[str, int]] = OrderedDict()
_ATLAS_CACHE_SIZE = 8
_ATLAS_LOCK = threading.Lock()
_XY_CACHE: OrderedDict[bytes, str] = OrderedDict()
_XY_CACHE_SIZE = 32

_HTML = """
<div class="dl-scatter" data-testid="latent-scatter" data-sent="0" data-shown="0" data-selected="0">
  <div class="dl-sc-legend" data-testid="scatter-legend"></div>
  <div class="dl-sc-plot">
    <canvas class="dl-sc-base"></canvas>
    <canvas class="dl-sc-over" data-testid="scatter-canvas"></canvas>
    <div class="dl-sc-tip" data-testid="scatter-tooltip" hidden>
      <canvas class="dl-sc-thumb" data-testid="scatter-tooltip-image" width="84" height="84"></canvas>
      <div class="dl-sc-tiptext"></div>
    </div>
  </div>
  <div class="dl-sc-status" data-testid="scatter-status"></div>
</div>
"""

# the component's style and script, beside this file (package data, read once at import)
_CSS = Path(__file__).with_suffix(".css").read_text(encoding="utf-8")
_JS = Path(__file__).with_suffix(".js").read_text(encoding="utf-8")

_component = st.components.v2.component(
    "digit_lab_latent_scatter", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def _ignore() -> None:
    """State-change callback: registering it declares the state; the fragment rerun does the work."""


def _selection_changed(key: str, n: int, on_select) -> None:
    """The selection's change callback: ``on_select`` with the browser's new selection, cleaned."""
    state = st.session_state.get(key)
    value = state.get("selection") if hasattr(state, "get") else None
    on_select(_clean_result({"selection": value}, n, "select", False)["selection"])


def thumbnail_atlas(thumbnails: np.ndarray) -> tuple[str, int]:
    """Pack images into one PNG sprite atlas, as a ``data:`` URL (cached per content).

    Args:
        thumbnails: uint8 (N, 28, 28), white ink (255) on black (0); float arrays in [0, 1] are
            scaled to 0–255.

    Returns:
        ``(data_url, columns)``: a grey PNG (16 levels, 4-bit palette: each pixel within 8/255 of its
        value) of ``ceil(N / columns)`` rows by ``columns = ceil(sqrt(N))`` cells of 28×28 pixels;
        image i sits at column ``i % columns``, row ``i // columns``. 10,000 MNIST digits make a data
        URL of about 1.3 MB.

    Raises:
        ValueError: when ``thumbnails`` is not shaped (N, 28, 28).
    """
    arr = np.asarray(thumbnails)
    if arr.ndim != 3 or arr.shape[1:] != (THUMB, THUMB):
        raise ValueError(f"thumbnails must be an (N, 28, 28) array of images; got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        arr = (np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    arr = np.ascontiguousarray(arr)
    digest = hashlib.sha1(arr, usedforsecurity=False).digest() + repr(arr.shape).encode()
    with _ATLAS_LOCK:
        if digest in _ATLAS_CACHE:
            _ATLAS_CACHE.move_to_end(digest)
            return _ATLAS_CACHE[digest]
    from PIL import Image

    n = len(arr)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    sheet = np.zeros((rows * cols, THUMB, THUMB), dtype=np.uint8)
    sheet[:n] = arr
    sheet = sheet.reshape(rows, cols, THUMB, THUMB).transpose(0, 2, 1, 3).reshape(rows * THUMB, cols * THUMB)
    # 16 grey levels (a 4-bit palette PNG): about 40 % fewer bytes than 8-bit grey for MNIST digits,
    # every pixel within 8/255 of its value, no visible difference at the tooltip's ×3
    levels = np.ascontiguousarray(np.round(sheet / 17.0).astype(np.uint8))
    image = Image.frombytes("P", (levels.shape[1], levels.shape[0]), levels.tobytes())
    image.putpalette([17 * (v // 3) for v in range(16 * 3)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", bits=4, compress_level=6)
    result = ("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), cols)
    with _ATLAS_LOCK:
        _ATLAS_CACHE[digest] = result
        while len(_ATLAS_CACHE) > _ATLAS_CACHE_SIZE:
            _ATLAS_CACHE.popitem(last=False)
    return result


def _xy_text(digest: bytes, rounded: np.ndarray) -> str:
    """``"x0,y0,x1,y1,..."`` (4 decimals), cached per content: Streamlit JSON-encodes the component's
    data twice per run, and one string encodes far faster than 2N floats."""
    with _ATLAS_LOCK:
        if digest in _XY_CACHE:
            _XY_CACHE.move_to_end(digest)
            return _XY_CACHE[digest]
    text = ",".join(map(repr, rounded.ravel().tolist()))
    with _ATLAS_LOCK:
        _XY_CACHE[digest] = text
        while len(_XY_CACHE) > _XY_CACHE_SIZE:
            _XY_CACHE.popitem(last=False)
    return text


def scatter_payload(xy, labels, *, thumbnails=None, marker=None, marker_label: str = "your digit",
                    drag: str = "select", axis_labels=("x", "y"), square=None, height: int = 460,
                    point_size: float = 3, ids=None, equal_aspect: bool | None = None, selected=None,
                    link: str | None = None, key: str = "") -> dict:
    """Validate the inputs and build the JSON data the component receives (see :func:`latent_scatter`)."""
    xy_arr = np.asarray(xy, dtype=np.float64)
    if xy_arr.ndim != 2 or xy_arr.shape[1] != 2:
        raise ValueError(f"xy must be an (N, 2) array of x, y coordinates; got shape {xy_arr.shape}.")
    n = len(xy_arr)
    if not np.all(np.isfinite(xy_arr)):
        raise ValueError("xy holds NaN or infinite coordinates; drop or fix those points first.")
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ValueError(f"labels must be a 1-D array with one digit per point ({n}); got shape {lab.shape}.")
    if n and (not np.issubdtype(lab.dtype, np.number) or np.any(lab != np.round(lab))
              or lab.min() < 0 or lab.max() > 9):
        raise ValueError("labels must be whole digits from 0 to 9.")
    lab = lab.astype(np.int64)
    if drag not in DRAG_MODES:
        raise ValueError(f"drag must be 'select' or 'probe', not {drag!r}.")
    if thumbnails is not None:
        thumbs = np.asarray(thumbnails)
        if thumbs.ndim != 3 or thumbs.shape != (n, THUMB, THUMB):
            raise ValueError(f"thumbnails must be an (N, 28, 28) array with one image per point ({n}); "
                             f"got shape {thumbs.shape}.")
    marker_xy = None
    if marker is not None:
        m = np.asarray(marker, dtype=np.float64).ravel()
        if m.shape != (2,) or not np.all(np.isfinite(m)):
            raise ValueError(f"marker must be one finite (x, y) pair; got {marker!r}.")
        marker_xy = [round(float(m[0]), 6), round(float(m[1]), 6)]
    if square is not None:
        if isinstance(square, bool) or not isinstance(square, (int, float, np.integer, np.floating)) \
                or not math.isfinite(square) or square <= 0:
            raise ValueError(f"square must be a positive number L (the square [-L, L]²) or None; got {square!r}.")
    labels_pair = list(axis_labels) if isinstance(axis_labels, (list, tuple)) else None
    if labels_pair is None or len(labels_pair) != 2:
        raise ValueError(f"axis_labels must be a pair of strings (x label, y label); got {axis_labels!r}.")
    if isinstance(height, bool) or not isinstance(height, (int, np.integer)) or height < 120:
        raise ValueError(f"height must be a whole number of pixels, at least 120; got {height!r}.")
    if isinstance(point_size, bool) or not isinstance(point_size, (int, float, np.integer, np.floating)) \
            or not 0 < point_size <= 40:
        raise ValueError(f"point_size must be a diameter in pixels between 0 and 40; got {point_size!r}.")
    id_list = None
    if ids is not None:
        id_arr = np.asarray(ids)
        if id_arr.shape != (n,) or (n and not np.issubdtype(id_arr.dtype, np.integer)):
            raise ValueError(f"ids must be a 1-D integer array with one id per point ({n}); got shape {id_arr.shape}.")
        id_list = id_arr.astype(np.int64).tolist()
    selected_list = None
    if selected is not None:
        if drag != "select":
            raise ValueError("selected is only for drag='select' (a probe has no selection).")
        sel = np.asarray(selected)
        if sel.ndim != 1 or (sel.size and (not np.issubdtype(sel.dtype, np.integer) or sel.min() < 0 or sel.max() >= n)):
            raise ValueError(f"selected must be a 1-D array of point positions from 0 to {n - 1}; got {selected!r}.")
        selected_list = sorted(set(sel.astype(np.int64).tolist()))
    if link is not None and (not isinstance(link, str) or not link or ids is None or drag != "select"):
        raise ValueError("link must be a non-empty name, for drag='select' scatters that are given ids.")

    rounded = np.ascontiguousarray(np.round(xy_arr, 4) + 0.0)  # + 0.0: no "-0.0"
    xy_digest = hashlib.sha1(rounded, usedforsecurity=False).digest()
    label_text = (lab.astype(np.uint8) + ord("0")).tobytes().decode("ascii")
    sig = hashlib.sha1(xy_digest + label_text.encode("ascii"), usedforsecurity=False).hexdigest()[:16]
    atlas, cols = thumbnail_atlas(thumbnails) if thumbnails is not None and n else (None, 0)
    return {"key": str(key), "sig": sig, "xy": _xy_text(xy_digest, rounded), "labels": label_text, "ids": id_list,
            "colors": list(DIGIT_PALETTE), "atlas": atlas, "atlas_cols": cols, "marker": marker_xy,
            "marker_label": str(marker_label), "drag": drag, "axis_labels": [str(a) for a in labels_pair],
            "square": float(square) if square is not None else None, "height": int(height),
            "equal_aspect": bool(square is not None if equal_aspect is None else equal_aspect),
            "point_size": float(point_size), "selected": selected_list, "link": link}


def _clean_result(raw: dict, n: int, drag: str, fresh_points: bool) -> dict:
    """The Python answer from the component's raw state (robust to any value the browser sent)."""
    selection: list[int] = []
    point = None
    if drag == "select" and not fresh_points:
        value = raw.get("selection")
        if isinstance(value, (list, tuple)):
            selection = sorted({int(i) for i in value
                                if isinstance(i, (int, float)) and not isinstance(i, bool)
                                and float(i).is_integer() and 0 <= i < n})
    if drag == "probe":
        value = raw.get("point")
        if isinstance(value, (list, tuple)) and len(value) == 2:
            try:
                x, y = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                x = y = float("nan")
            if math.isfinite(x) and math.isfinite(y):
                point = (x, y)
    return {"selection": selection, "point": point}


def latent_scatter(xy, labels, key: str, *, thumbnails=None, marker=None, marker_label: str = "your digit",
                   drag: str = "select", axis_labels=("x", "y"), square=None, height: int = 460,
                   point_size: float = 3, ids=None, equal_aspect: bool | None = None, selected=None,
                   on_select=None, link: str | None = None) -> dict:
    """A canvas scatter plot of 2-D points coloured by digit; returns the box selection or probe point.

    Args:
        xy: float (N, 2) point coordinates in data units (e.g. latent z1, z2 or a projection); sent
            rounded to 4 decimals, as one comma-separated text (about 150 KB for 10,000 points;
            the labels as one digit character each). N may be 0.
        labels: int (N,) digits 0–9 (the colour: ``DIGIT_PALETTE[digit]``; a legend of the digits
            present, each a button that hides or shows its points in the browser).
        key: the component's key (required, unique in the app). Give a key that changes with the
            points (run, projection, N...): the selection refers to positions in ``xy``.
        thumbnails: optional uint8 (N, 28, 28) images, white ink on black (floats in [0, 1] are
            accepted); hovering point i shows image i (×3), its digit and its index. Sent as one PNG
            sprite atlas (:func:`thumbnail_atlas`: about 1.3 MB of data URL for 10,000 MNIST digits,
            built once per content, ~0.3 s).
        marker: optional (x, y) in data units: a black-outlined yellow star labelled ``marker_label``
            (e.g. the user's drawn digit); the view is widened to include it.
        marker_label: the marker's text.
        drag: ``"select"``: dragging draws a box, release selects the visible points inside it, a
            double click clears it. ``"probe"``: a click or drag reports the data coordinates under the
            pointer (about every 60 ms while dragging, and at release) and draws a crosshair there.
        axis_labels: (x label, y label).
        square: optional L > 0: a dotted square [−L, L]² (e.g. the range of a decoded grid); the view
            includes it.
        height: plot height in CSS pixels (the legend and the status line add about 50 px); the
            width fills the container.
        point_size: point diameter in CSS pixels.
        ids: optional int (N,) shown in the tooltip as ``#id`` instead of the point's position (e.g.
            test-set indices); the selection still holds positions.
        equal_aspect: one data unit as long on both axes (the narrower range is widened); None (the
            default) means: equal when ``square`` is given (a latent plane), free otherwise.
        selected: optional int positions (0 ≤ i < N) the page selects (``drag="select"`` only), e.g. the
            points another scatter's box chose: whenever this value changes, the scatter shows it as its
            selection (the rest faded) and sends it back as its own. None (the default): only the
            user's boxes select. ``[]`` clears.
        on_select: optional ``on_select(positions: list[int])``, called before the rerun each time the
            browser sends a selection other than the one Python holds (a box, a double click that clears,
            or the scatter taking over ``selected``), with the sorted positions; e.g. to share it with
            other views. Called as a widget callback: it may set session state, not draw.
        link: optional name shared by scatters of one page (``drag="select"``, with ``ids``): a box or a
            double click on one of them selects the points of the same ids in the others at once, in
            the browser (they do not send it: pass the shared selection back as ``selected`` so that it
            survives reruns).

    Returns:
        ``{"selection": list[int], "point": (x, y) | None}``: with ``drag="select"``, the sorted
        positions (0 ≤ i < N) of the selected points (``[]`` when none) and ``point=None``; with
        ``drag="probe"``, ``selection=[]`` and the probed (x, y) in data units as floats, or None
        before the first click.

    Raises:
        ValueError: with a plain sentence when xy is not (N, 2) or holds NaN/inf, labels is not (N,)
            digits 0–9, thumbnails is not (N, 28, 28), ids is not (N,) integers, marker is not one
            finite (x, y), drag is not "select"/"probe", square is not positive, axis_labels is not a
            pair, height < 120, point_size outside (0, 40], selected is not positions of points (or is
            given with drag="probe"), or link is empty or given without ids or with drag="probe".

    Each gesture is a ``setStateValue``: inside an ``@st.fragment`` it reruns only that fragment.
    """
    data = scatter_payload(xy, labels, thumbnails=thumbnails, marker=marker, marker_label=marker_label,
                           drag=drag, axis_labels=axis_labels, square=square, height=height,
                           point_size=point_size, ids=ids, equal_aspect=equal_aspect, selected=selected,
                           link=link, key=key)
    # The selection is kept per key; if the points changed under the same key since the last run,
    # the stored indices are stale: ignore them (the browser clears them too, at once).
    sig_key = f"_dl_scatter_sig::{key}"
    previous = st.session_state.get(sig_key)
    st.session_state[sig_key] = data["sig"]
    fresh_points = previous is not None and previous != data["sig"]
    default = {"selection": [], "point": None}
    n = len(data["labels"])
    on_change = _ignore if on_select is None else functools.partial(_selection_changed, key, n, on_select)
    result = _component(key=key, data=data, default=default, on_selection_change=on_change,
                        on_point_change=_ignore)
    raw = dict(result) if result is not None else {}
    return _clean_result(raw, len(data["labels"]), drag, fresh_points)
