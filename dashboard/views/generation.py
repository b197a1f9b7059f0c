"""10×10 generation grids: row = digit 0–9, column = sample; reproducible with a seed."""

import streamlit as st

from common import selected_runs, show_images, side_by_side, skip_note
from core import explore
from core.models.base import GENERATE

MODE_HELP = {
    "density": "z drawn from an ex-post Gaussian per digit fitted to the training images' latent codes "
               "(Ghosh et al. 2020), the same recipe for every model",
    "posterior": "z drawn from the CVAE's digit-only posterior q(z | digit)",
    "deterministic": "the single digit-only output: the digit-only code (CVAE: the mean of q(z | digit))",
}

st.title("Generation grids")
runs = selected_runs()
c1, c2, c3 = st.columns([1, 1, 2])
seed = c1.number_input("Seed", 0, 1_000_000, 0, key="gen_seed",
                       help="The same seed reproduces the same grid for a run.")
per_digit = c2.slider("Samples per digit", 1, 10, 10, key="gen_per_digit")
modes = sorted({m for run in runs for m in run.model.generation_modes}, key=list(MODE_HELP).index)
mode = c3.radio("Generation", modes, horizontal=True, key="gen_mode", format_func=str.capitalize,
                help="; ".join(f"**{m}**: {MODE_HELP[m]}" for m in modes)) if modes else None
if mode:
    st.caption(f"**{mode.capitalize()}**: {MODE_HELP[mode]}.")


@st.cache_data(max_entries=64, show_spinner=False)
def grid(run_name: str, per: int, seed: int, mode: str):
    run = {r.name: r for r in runs}[run_name]
    return explore.generation_grid(run.model, per, seed, mode)


def render(run):
    st.markdown(f"**{run.label}**")
    if not run.model.can(GENERATE) or mode not in run.model.generation_modes:
        skip_note(run, f"generate in mode {mode}")
        return
    show_images(grid(run.name, per_digit, int(seed), mode), nrow=per_digit, scale=2)
    st.caption("Rows: digits 0 (top) to 9; columns: samples.")


side_by_side(runs, render, max_cols=2)
