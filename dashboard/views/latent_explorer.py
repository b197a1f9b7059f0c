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


def encodes(run) -> bool:
    return run.model.can(ENCODE) and bool(run.model.input_modes)


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
    """Where a digit sits in a run's latent space: its digit-only code; the prior mean z = 0 for
    decoders that take the digit as a label; else the mean code of its test images."""
    run = {r.name: r for r in runs}[run_name]
    if DIGIT_ONLY in run.model.input_modes:
        return explore.encode_dataset(run.model, test_x[:1], torch.tensor([digit]), DIGIT_ONLY)[0]
    if run.model.decoder_needs_label or not encodes(run):
        return np.zeros(run.model.latent_dim, dtype=np.float32)
    codes = reference_codes(run_name)
    return codes[test_y[torch.as_tensor(REF)].numpy() == digit].mean(0)


def describe_base(run) -> str:
    if DIGIT_ONLY in run.model.input_modes:
        return "the digit-only code"
    if run.model.decoder_needs_label or not encodes(run):
        return "z = 0 decoded with the digit"
    return "the mean code of the digit's test images"


def axes(run, basis: str, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Directions (k, d), their standard deviations (k,), and the basis actually used."""
    d = run.model.latent_dim
    if not encodes(run):  # no codes to measure: the prior N(0, I) sets the scale
        k = min(k, d)
        return np.eye(d, dtype=np.float32)[:k], np.ones(k, dtype=np.float32), "latent coordinates, prior scale"
    codes = reference_codes(run.name)
    if basis == "Principal directions":
        directions, stds = principal_directions(codes, k)
        return directions, stds, basis.lower()
    k = min(k, d)
    return np.eye(d, dtype=np.float32)[:k], codes.std(0)[:k].astype(np.float32), "latent coordinates"


sliders_tab, interp_tab = st.tabs(["Latent sliders", "Interpolation"])

with sliders_tab:
    c1, c2, c3 = st.columns([2, 2, 1])
    digit = c1.selectbox("Digit", DIGITS, index=3, key="sl_digit")
    basis = c2.radio("Move along", ["Latent coordinates", "Principal directions"], horizontal=True, key="sl_basis",
                     help="Principal directions: PCA of 2,000 test codes. Slider units are standard "
                          "deviations of the test codes along each axis (of the prior for the GAN's "
                          "noise), so runs compare on one scale.")
    k = c3.number_input("Sliders", 1, 8, 4, key="sl_k")
    max_dim = max((r.model.latent_dim for r in runs if r.model.can(DECODE)), default=1)
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
        if not run.model.can(DECODE):
            skip_note(run, "decode a latent code")
            return
        directions, stds, used = axes(run, basis, len(offsets))
        z = digit_code(run.name, int(digit)).copy()
        for i in range(directions.shape[0]):
            z = z + offsets[i] * stds[i] * directions[i]
        show_images(explore.decode(run.model, z[None], int(digit)), nrow=1, scale=8)
        st.caption(f"Digit {digit}: {describe_base(run)}, moved along {used}.")

    side_by_side(runs, render_sliders, max_cols=4)

with interp_tab:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    source = c1.radio("Between", ["Two test images", "Two digits", "Two random codes"], horizontal=True,
                      key="in_source", help="Random codes are drawn from N(0, I), the prior of the VAEs and "
                                            "the GAN's noise; a label-conditioned decoder gets the digit.")
    if source == "Two test images":
        a = c2.number_input("Image A (test index)", 0, len(test_x) - 1, 3, key="in_a")
        b = c3.number_input("Image B (test index)", 0, len(test_x) - 1, 2, key="in_b")
        st.caption(f"A is a {int(test_y[a])}, B is a {int(test_y[b])}.")
        show_images(test_x[[a, b]], nrow=2, scale=2, caption="A and B")
    elif source == "Two digits":
        a = c2.selectbox("Digit A", DIGITS, index=1, key="in_da")
        b = c3.selectbox("Digit B", DIGITS, index=7, key="in_db")
    else:
        a = c2.number_input("Seed A", 0, 10_000, 0, key="in_sa")
        b = c3.number_input("Seed B", 0, 10_000, 1, key="in_sb")
        fixed_digit = c1.selectbox("Digit (label-conditioned decoders)", DIGITS, index=5, key="in_digit")
    n_frames = c4.slider("Frames", 3, 15, 9, key="in_frames")
    t = st.slider("Position between A and B", 0.0, 1.0, 0.5, 0.05, key="in_t")

    def endpoints(run):
        """Codes of A and B plus the digits a label-conditioned decoder gets, or a reason why not."""
        d = run.model.latent_dim
        if source == "Two random codes":
            z = [np.random.default_rng(int(s)).standard_normal(d).astype(np.float32) for s in (a, b)]
            return z[0], z[1], int(fixed_digit), int(fixed_digit)
        if source == "Two digits":
            if run.model.decoder_needs_label or DIGIT_ONLY not in run.model.input_modes:
                return None, "interpolate between digits: its latent holds no digit code (try random codes)"
            return digit_code(run.name, int(a)), digit_code(run.name, int(b)), None, None
        if not encodes(run):
            return None, "encode test images (try random codes)"
        codes = explore.encode_dataset(run.model, test_x[[a, b]], test_y[[a, b]], image_mode(run))
        return codes[0], codes[1], int(test_y[a]), int(test_y[b])

    def render_interp(run):
        st.markdown(f"**{run.label}**")
        ends = endpoints(run) if run.model.can(DECODE) else (None, "decode a latent code")
        if ends[0] is None:
            skip_note(run, ends[1])
            return
        z_a, z_b, digit_a, digit_b = ends
        frames = explore.interpolate_codes(z_a, z_b, n_frames)
        near = [digit_a if s < 0.5 else digit_b for s in np.linspace(0, 1, n_frames)]
        strip = torch.cat([explore.decode(run.model, z[None], dg) for z, dg in zip(frames, near)])
        show_images(explore.decode(run.model, ((1 - t) * z_a + t * z_b)[None], digit_a if t < 0.5 else digit_b),
                    nrow=1, scale=6, caption=f"t = {t:.2f}")
        show_images(strip, nrow=n_frames, scale=2, caption="A → B, linear in the latent space")
        if run.model.decoder_needs_label and digit_a != digit_b:
            st.caption(f"Its decoder takes the digit as a label: {digit_a} for the first half, {digit_b} after.")

    side_by_side(runs, render_interp, max_cols=2)
