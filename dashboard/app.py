"""Digit Lab: `streamlit run dashboard/app.py`.

The entry point: page navigation, the shared sidebar (which runs to compare, broken checkpoints)
and MNIST availability. Each page lives in dashboard/views/. Nothing here imports torch: the first
page is drawn from the runs' JSON files, and the models load in the background afterwards.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

# One intra-op thread per torch call: a gesture runs batch-1 models (milliseconds), and with several
# sessions or the page's own threads, a thread pool per call spins and multiplies latency on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import streamlit as st  # noqa: E402

from dashboard.common import (  # noqa: E402
    CHOSEN_KEY,
    DEFAULT_RUNS,
    RUNS_KEY,
    SHARE_PROBLEMS_KEY,
    SHARED_KEY,
    SHARED_PARAM,
    chosen_names,
    ensure_data,
    plain,
    runs_and_errors,
    warm_up,
)

HERE = Path(__file__).parent
st.set_page_config(page_title="Digit Lab", page_icon=str(HERE / "assets" / "icon.png"), layout="wide")

PAGES = HERE / "views"
navigation = st.navigation({
    "Start": [st.Page(PAGES / "home.py", title="Overview", icon=":material/home:", default=True)],
    "Training": [st.Page(PAGES / "loss_curves.py", title="Loss curves", icon=":material/show_chart:"),
                 st.Page(PAGES / "train.py", title="Train a model", icon=":material/model_training:")],
    "Look": [
        st.Page(PAGES / "reconstructions.py", title="Reconstructions", icon=":material/compare:"),
        st.Page(PAGES / "generation.py", title="Generation grids", icon=":material/grid_view:"),
        st.Page(PAGES / "latent_space.py", title="Latent space", icon=":material/scatter_plot:"),
        st.Page(PAGES / "latent_plane.py", title="2-D latent plane", icon=":material/grid_on:"),
        st.Page(PAGES / "latent_explorer.py", title="Latent sliders & interpolation", icon=":material/tune:"),
        st.Page(PAGES / "restyle.py", title="Restyle", icon=":material/brush:"),
        st.Page(PAGES / "sampling.py", title="Watch it sample", icon=":material/animation:"),
    ],
    "Play": [st.Page(PAGES / "draw.py", title="Draw a digit", icon=":material/draw:"),
             st.Page(PAGES / "read_number.py", title="Read a number", icon=":material/pin:"),
             st.Page(PAGES / "archive.py", title="Archive", icon=":material/inventory_2:")],
    "Measure": [st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:"),
                st.Page(PAGES / "noise.py", title="Noise robustness", icon=":material/grain:"),
                st.Page(PAGES / "vae_study.py", title="β-VAE experiments", icon=":material/science:")],
}, expanded=True)  # every page listed: the sidebar would otherwise fold the last ones under "View more"

# the app's own styles (crisp inline images, plain tables): st.html reads a CSS file given as a Path into a style tag
st.html(HERE / "assets" / "app.css")
runs, errors = runs_and_errors()
with st.sidebar:
    if runs:
        if CHOSEN_KEY not in st.session_state:  # first visit: ?runs=a,b,c in the address, else the defaults
            # names match whatever their case (a link typed or read aloud: CVAE-Z32-S0 is cvae-z32-s0)
            by_lower = {name.lower(): name for name in runs}
            asked = [n.strip() for value in st.query_params.get_all("runs") for n in value.split(",") if n.strip()]
            unknown = [n for n in asked if n.lower() not in by_lower]
            asked = [by_lower.get(n.lower(), n) for n in asked]
            if unknown:
                st.warning("Unknown runs in the link, left out: " + ", ".join(plain(n) for n in unknown[:10])
                           + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
            st.session_state[CHOSEN_KEY] = (list(dict.fromkeys(n for n in asked if n in runs)) or
                                            [n for n in DEFAULT_RUNS if n in runs] or list(runs)[:2])
        # The choice lives in a plain key the picker writes through on_change: a page link clicked while
        # the first run was still drawing made the browser send the picker back empty (seen in Chromium).
        st.session_state[CHOSEN_KEY] = [n for n in chosen_names() if n in runs]
        st.session_state[RUNS_KEY] = chosen_names()
        # The picker tells runs apart by the text it shows (Streamlit keeps the choice as those texts): two
        # runs with one label (a copied folder, a card written alike) get their folder names added.
        labels = Counter(run.label for run in runs.values())
        shown = {name: run.label if labels[run.label] == 1 else f"{run.label} ({name})" for name, run in runs.items()}
        st.multiselect("Runs to compare", options=list(runs), key=RUNS_KEY, select_all=False,
                       on_change=lambda: st.session_state.update({CHOSEN_KEY: st.session_state[RUNS_KEY]}),
                       format_func=shown.get,
                       help="Every view shows these runs side by side on the same inputs. The address keeps "
                            "the choice (?runs=cae-z32-s0,cvae-z32-s0): reload or share it.")
        # keep the choice in the address on every page, so a reload or a shared link restores it
        if st.query_params.get("runs") != ",".join(chosen_names()):
            st.query_params["runs"] = ",".join(chosen_names())
    else:
        st.error("No readable checkpoints were found in checkpoints/.")
    # runs shared by link stay in the address too (so a reload keeps them); a link that leads nowhere says why
    shared_tokens = st.session_state.get(SHARED_KEY, [])
    if shared_tokens and st.query_params.get_all(SHARED_PARAM) != [",".join(shared_tokens)]:
        st.query_params[SHARED_PARAM] = ",".join(shared_tokens)
    elif not shared_tokens and SHARED_PARAM in st.query_params:
        del st.query_params[SHARED_PARAM]
    for problem in st.session_state.pop(SHARE_PROBLEMS_KEY, []):
        st.warning(plain(problem), icon=":material/link_off:")
    for name, exc in errors.items():
        st.warning(f"Run {plain(name)} is left out: {plain(exc.kind)}. The server log has the details.")

if not ensure_data():
    st.stop()
try:
    navigation.run()
finally:  # also when the page stops early: the next gesture should find the models loaded
    warm_up(chosen_names())
