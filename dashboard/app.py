"""Digit Lab: `streamlit run dashboard/app.py`.

The entry point: page navigation, the shared sidebar (which runs to compare, broken checkpoints)
and MNIST availability. Each page lives in dashboard/views/.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from common import DEFAULT_RUNS, RUNS_KEY, ensure_data, runs_and_errors

st.set_page_config(page_title="Digit Lab", page_icon=":material/draw:", layout="wide")

PAGES = Path(__file__).parent / "views"
navigation = st.navigation({
    "Start": [st.Page(PAGES / "home.py", title="Overview", icon=":material/home:", default=True)],
    "Training": [st.Page(PAGES / "loss_curves.py", title="Loss curves", icon=":material/show_chart:")],
    "Look": [
        st.Page(PAGES / "reconstructions.py", title="Reconstructions", icon=":material/compare:"),
        st.Page(PAGES / "generation.py", title="Generation grids", icon=":material/grid_view:"),
        st.Page(PAGES / "latent_space.py", title="Latent space", icon=":material/scatter_plot:"),
        st.Page(PAGES / "latent_plane.py", title="2-D latent plane", icon=":material/grid_on:"),
        st.Page(PAGES / "latent_explorer.py", title="Latent sliders & interpolation", icon=":material/tune:"),
        st.Page(PAGES / "restyle.py", title="Restyle", icon=":material/brush:"),
    ],
    "Play": [st.Page(PAGES / "draw.py", title="Draw a digit", icon=":material/draw:")],
    "Measure": [st.Page(PAGES / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:")],
})

CHOSEN_KEY = "chosen_runs"  # the sidebar's choice of runs, kept across pages (RUNS_KEY is the picker's)
runs, errors = runs_and_errors()
with st.sidebar:
    if runs:
        if CHOSEN_KEY not in st.session_state:  # first visit: ?runs=a,b,c in the URL, else the defaults
            asked = [n for n in st.query_params.get("runs", "").split(",") if n]
            unknown = [n for n in asked if n not in runs]
            if unknown:
                st.warning(f"Unknown runs in the link, left out: {', '.join(unknown)}")
            st.session_state[CHOSEN_KEY] = ([n for n in asked if n in runs] or
                                            [n for n in DEFAULT_RUNS if n in runs] or list(runs)[:2])
        # The choice lives in a plain key the picker writes through on_change: a page link clicked while
        # the first run was still drawing made the browser send the picker back empty (seen in Chromium).
        st.session_state[RUNS_KEY] = st.session_state[CHOSEN_KEY]
        st.multiselect("Runs to compare", options=list(runs), key=RUNS_KEY,
                       on_change=lambda: st.session_state.update({CHOSEN_KEY: st.session_state[RUNS_KEY]}),
                       format_func=lambda name: runs[name].label,
                       help="Every view shows these runs side by side on the same inputs. "
                            "A link can preselect them: add ?runs=cae-z32-s0,cvae-z32-s0 to the address.")
    else:
        st.error("No readable checkpoints were found in checkpoints/.")
    for name, message in errors.items():
        st.warning(f"Checkpoint **{name}** could not be loaded and is left out: {message}")

if not ensure_data():
    st.stop()
navigation.run()
