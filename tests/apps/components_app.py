"""A tiny app for tests/test_components.py: both dashboard components, each in its own fragment.

Every fragment writes what it received as one JSON line in a keyed container (``.st-key-out_<name>``)
with its own run counter and the whole script's run counter, so a test sees whether a gesture reran
only the fragment (the fragment's counter moves, ``full`` does not).

Points of the select scatter: a 40 × 50 lattice, point i at (i % 40, i // 40), digit i % 10.
Points of the probe scatter: 500 seeded random points in [−2, 2]², a marker at (2.5, −2.5) outside them.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from dashboard.components.latent_scatter import latent_scatter
from dashboard.components.sketchpad import sketchpad

ss = st.session_state
ss["full"] = ss.get("full", 0) + 1
for name in ("pad", "sel", "probe"):
    ss.setdefault(f"runs_{name}", 0)


def out(name: str, **values) -> None:
    with st.container(key=f"out_{name}"):
        st.text(json.dumps({"runs": ss[f"runs_{name}"], "full": ss["full"], **values}))


@st.cache_data
def lattice():
    i = np.arange(2000)
    xy = np.stack([i % 40, i // 40], axis=1).astype(np.float32)
    labels = i % 10
    thumbs = np.zeros((2000, 28, 28), dtype=np.uint8)
    for k in range(2000):  # a bar whose length tells the digit: never an all-black image
        thumbs[k, 4:24, 12:16] = 255
        thumbs[k, 4:6, 4:4 + 2 * (labels[k] + 1)] = 200
    return xy, labels, thumbs


@st.fragment
def pad_fragment() -> None:
    ss["runs_pad"] += 1
    brush = 32 if st.button("Thicker brush", key="thicker") else ss.get("brush", 20)
    ss["brush"] = brush
    if st.checkbox("Hide the sketchpad", key="hide_pad"):  # as the Draw page's "Upload an image"
        out("pad", ink=None, shape=None, dtype=None, max=None, brush=brush, hidden=True)
        return
    ink = sketchpad("pad", width=280, height=280, brush=brush, live_ms=150, clear_label="Wipe")
    payload = (ss.get("pad") or {}).get("drawing")  # the raw state: the PNG data URL
    out("pad", ink=None if ink is None else round(float(ink.sum()), 2), chars=len(payload or ""),
        shape=None if ink is None else list(ink.shape), dtype=None if ink is None else str(ink.dtype),
        max=None if ink is None else float(ink.max()), brush=brush)


@st.fragment
def select_fragment() -> None:
    ss["runs_sel"] += 1
    xy, labels, thumbs = lattice()
    result = latent_scatter(xy, labels, "sel", thumbnails=thumbs, axis_labels=("PCA 1", "PCA 2"), height=420,
                            point_size=4, ids=np.arange(2000) + 10_000)
    out("sel", n=len(result["selection"]), first=result["selection"][:3], point=result["point"])


@st.fragment
def probe_fragment() -> None:
    ss["runs_probe"] += 1
    rng = np.random.default_rng(0)
    xy = rng.uniform(-2, 2, size=(500, 2))
    labels = rng.integers(0, 10, size=500)
    result = latent_scatter(xy, labels, "probe", marker=(2.5, -2.5), drag="probe", square=2.0,
                            axis_labels=("z1", "z2"), height=360)
    out("probe", point=result["point"], n=len(result["selection"]))


st.title("Components test app")
st.text(f"full script runs: {ss['full']}")
st.button("Rerun the whole script", key="full_rerun")
pad_fragment()
select_fragment()
probe_fragment()
