"""Latent sliders (move a digit's code along latent axes) and interpolation between two codes."""

import numpy as np
import streamlit as st
import torch

from common import DIGITS, seeded_indices, selected_runs, show_images, side_by_side, skip_note, test_set
from core import explore
from core.models.base import DECODE, DIGIT_ONLY, ENCODE, IMAGE_AND_DIGIT
from core.projections import principal_directions

st.title("Latent sliders & interpolation")
runs = selected_runs()
test_x, test_y = test_set()
REF = seeded_indices(len(test_x), 2000, 0)  # reference test codes for axis scales


def usable(run) -> bool:
    return run.model.can(ENCODE) and run.model.can(DECODE)


def image_mode(run) -> str:
    """Input mode used to encode test images: image+digit when the model takes it."""
    return IMAGE_AND_DIGIT if IMAGE_AND_DIGIT in run.model.input_modes else run.model.input_modes[0]


@st.cache_data(max_entries=32, show_spinner=False)
def reference_codes(run_name: str) -> np.ndarray:
    run = {r.name: r for r in runs}[run_name]
    idx = torch.as_tensor(REF)
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], image_mode(run))


@st.cache_data(max_entries=64, show_spinner=False)
def digit_code(run_name: str, digit: int) -> np.ndarray:
    """The code a digit alone maps to; for models without a digit-only mode, the mean test code."""
    run = {r.name: r for r in runs}[run_name]
    if DIGIT_ONLY in run.model.input_modes:
        return explore.encode_dataset(run.model, test_x[:1], torch.tensor([digit]), DIGIT_ONLY)[0]
    codes = reference_codes(run_name)
    return codes[test_y[torch.as_tensor(REF)].numpy() == digit].mean(0)


def axes(run_name: str, basis: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    codes = reference_codes(run_name)
    if basis == "Principal directions":
        return principal_directions(codes, k)
    k = min(k, codes.shape[1])
    return np.eye(codes.shape[1], dtype=np.float32)[:k], codes.std(0)[:k].astype(np.float32)


sliders_tab, interp_tab = st.tabs(["Latent sliders", "Interpolation"])

with sliders_tab:
    c1, c2, c3 = st.columns([2, 2, 1])
    digit = c1.selectbox("Digit", DIGITS, index=3, key="sl_digit")
    basis = c2.radio("Move along", ["Latent coordinates", "Principal directions"], horizontal=True, key="sl_basis",
                     help="Principal directions: PCA of 2,000 test codes. Slider units are standard "
                          "deviations of the test codes along each axis, so runs compare on one scale.")
    k = c3.number_input("Sliders", 1, 8, 4, key="sl_k")
    max_dim = max((r.model.latent_dim for r in runs if usable(r)), default=1)
    offsets = []
    cols = st.columns(4)
    for i in range(min(int(k), max_dim)):
        label = f"{'z' if basis == 'Latent coordinates' else 'PC'}{i + 1}"
        offsets.append(cols[i % 4].slider(label + " (σ)", -3.0, 3.0, 0.0, 0.1, key=f"sl_{i}"))
    if st.button("Reset sliders", key="sl_reset"):
        for i in range(8):
            st.session_state.pop(f"sl_{i}", None)
        st.rerun()

    def render_sliders(run):
        st.markdown(f"**{run.label}**")
        if not usable(run):
            skip_note(run, "encode and decode")
            return
        directions, stds = axes(run.name, basis, len(offsets))
        z = digit_code(run.name, int(digit)).copy()
        for i in range(directions.shape[0]):
            z = z + offsets[i] * stds[i] * directions[i]
        show_images(explore.decode(run.model, z[None]), nrow=1, scale=8)
        st.caption(f"Code of digit {digit}" + (" (digit-only input)" if DIGIT_ONLY in run.model.input_modes
                                               else " (mean test code)") + " moved by the sliders.")

    side_by_side(runs, render_sliders, max_cols=4)

with interp_tab:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    source = c1.radio("Between", ["Two test images", "Two digits"], horizontal=True, key="in_source")
    if source == "Two test images":
        a = c2.number_input("Image A (test index)", 0, len(test_x) - 1, 3, key="in_a")
        b = c3.number_input("Image B (test index)", 0, len(test_x) - 1, 2, key="in_b")
        st.caption(f"A is a {int(test_y[a])}, B is a {int(test_y[b])}.")
        show_images(test_x[[a, b]], nrow=2, scale=2, caption="A and B")
    else:
        a = c2.selectbox("Digit A", DIGITS, index=1, key="in_da")
        b = c3.selectbox("Digit B", DIGITS, index=7, key="in_db")
    n_frames = c4.slider("Frames", 3, 15, 9, key="in_frames")
    t = st.slider("Position between A and B", 0.0, 1.0, 0.5, 0.05, key="in_t")

    def endpoints(run):
        if source == "Two digits":
            return digit_code(run.name, int(a)), digit_code(run.name, int(b))
        codes = explore.encode_dataset(run.model, test_x[[a, b]], test_y[[a, b]], image_mode(run))
        return codes[0], codes[1]

    def render_interp(run):
        st.markdown(f"**{run.label}**")
        if not usable(run):
            skip_note(run, "encode and decode")
            return
        z_a, z_b = endpoints(run)
        show_images(explore.decode(run.model, ((1 - t) * z_a + t * z_b)[None]), nrow=1, scale=6,
                    caption=f"t = {t:.2f}")
        show_images(explore.decode(run.model, explore.interpolate_codes(z_a, z_b, n_frames)), nrow=n_frames,
                    scale=2, caption="A → B, linear in the latent space")

    side_by_side(runs, render_interp, max_cols=2)
