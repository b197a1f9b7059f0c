"""10×10 generation grids: row = digit 0–9, column = sample; reproducible with a seed."""

import numpy as np
import streamlit as st
import torch

from common import judge_run, selected_runs, show_images, side_by_side, skip_note, test_set
from core import explore
from core.models.base import GENERATE

DEFAULT = "default"
MODE_HELP = {
    DEFAULT: "each model's own way: its first generation mode (named under its grid)",
    "density": "z drawn from an ex-post Gaussian per digit fitted to the training images' latent codes "
               "(Ghosh et al. 2020), the same recipe for every model",
    "posterior": "z drawn from the CVAE's digit-only posterior q(z | digit)",
    "prior": "z drawn from the prior N(0, I) and decoded with the digit (label-conditioned decoders)",
    "noise": "the GAN's generator fed noise z ~ N(0, I) and the digit",
    "deterministic": "one image per digit: the digit-only code (CVAE: the mean of q(z | digit); "
                     "label-conditioned decoders: z = 0)",
}

st.title("Generation grids")
runs = selected_runs()
c1, c2, c3 = st.columns([1, 1, 2])
seed = c1.number_input("Seed", 0, 1_000_000, 0, key="gen_seed",
                       help="The same seed reproduces the same grid for a run.")
per_digit = c2.slider("Samples per digit", 1, 10, 10, key="gen_per_digit")
modes = [DEFAULT] + sorted({m for run in runs for m in run.model.generation_modes}, key=list(MODE_HELP).index)
mode = c3.radio("Generation", modes, horizontal=True, key="gen_mode", format_func=str.capitalize,
                help="; ".join(f"**{m}**: {MODE_HELP[m]}" for m in modes))
st.caption(f"**{mode.capitalize()}**: {MODE_HELP[mode]}.")


def mode_for(run) -> str | None:
    """The mode this run generates in, or None when it cannot serve the chosen one."""
    if not run.model.can(GENERATE) or not run.model.generation_modes:
        return None
    if mode == DEFAULT:
        return run.model.generation_modes[0]
    return mode if mode in run.model.generation_modes else None


@st.cache_data(max_entries=64, show_spinner=False)
def grid(run_name: str, per: int, seed: int, mode: str):
    run = {r.name: r for r in runs}[run_name]
    return explore.generation_grid(run.model, per, seed, mode)


def titled_grid(run) -> tuple[torch.Tensor, str] | None:
    """Write the run's title; return its grid and mode, or say why it has none and return None."""
    st.markdown(f"**{run.label}**")
    run_mode = mode_for(run)
    if run_mode is None:
        skip_note(run, f"generate in mode {mode}")
        return None
    return grid(run.name, per_digit, int(seed), run_mode), run_mode


judge = judge_run()


def render(run):
    served = titled_grid(run)
    if served is None:
        return
    images, run_mode = served
    show_images(images, nrow=per_digit, scale=2)
    st.caption(f"Mode {run_mode}. Rows: digits 0 (top) to 9; columns: samples.")
    if judge:
        labels = torch.arange(10).repeat_interleave(per_digit)
        st.caption(f"The judge reads {100 * explore.judged_accuracy(judge.model, images, labels):.0f} % of "
                   f"these {len(labels)} images as the digit they were generated for.")


side_by_side(runs, render, max_cols=2)

st.subheader("Real versus generated")
st.caption("As in seed 003's Fig. 3: a random real test image of each digit (upper row, drawn with the seed) "
           "above the first generated sample of the same digit (lower row).")
test_x, test_y = test_set()
rng = np.random.default_rng(int(seed))
real = torch.stack([test_x[int(rng.choice(np.flatnonzero(test_y.numpy() == d)))] for d in range(10)])


def render_pairs(run):
    served = titled_grid(run)
    if served is not None:
        fake = served[0][::per_digit]  # the first sample of each digit
        show_images(torch.cat([real, fake]), nrow=10, scale=2)


side_by_side(runs, render_pairs, max_cols=2)
