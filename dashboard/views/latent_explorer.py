"""Latent sliders (move a digit's code along latent axes) and interpolation between two codes.

Each tab is a fragment: a slider step reruns only its tab, and the decoded images are drawn inline
(no separate image requests). *Animate* renders a looping GIF of the walk along one axis.
"""

import numpy as np
import streamlit as st
import torch

from core.explore import latents as explore
from core.explore.projections import principal_directions
from core.models.capabilities import DECODE, DIGIT_ONLY, ENCODE, encoder_input
from dashboard.common import (
    DIGITS,
    html_text,
    images_html,
    plain,
    seeded_indices,
    selected_runs,
    show_images,
    side_by_side,
    skip_note,
    test_set,
)

st.title("Latent sliders & interpolation")
runs = selected_runs()
test_x, test_y = test_set()
REF = seeded_indices(len(test_x), 2000, 0)  # reference test codes for axis scales


def encodes(run) -> bool:
    return run.model.can(ENCODE) and bool(run.model.input_modes)


@st.cache_resource(max_entries=64, show_spinner=False)
def reference_codes(run_name: str) -> np.ndarray:
    run = {r.name: r for r in runs}[run_name]
    idx = torch.as_tensor(REF)
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], encoder_input(run.model))


@st.cache_resource(max_entries=256, show_spinner=False)
def digit_code(run_name: str, digit: int) -> np.ndarray:
    """Where a digit sits in a run's latent space: its digit-only code; the model's own origin
    (z = 0 for most) for decoders that take the digit as a label; else the mean code of its test images."""
    run = {r.name: r for r in runs}[run_name]
    if DIGIT_ONLY in run.model.input_modes:
        return explore.encode_dataset(run.model, test_x[:1], torch.tensor([digit]), DIGIT_ONLY)[0]
    if run.model.decoder_needs_label or not encodes(run):
        return run.model.latent_origin(digit).numpy().astype(np.float32)
    codes = reference_codes(run_name)
    return codes[test_y[torch.as_tensor(REF)].numpy() == digit].mean(0)


def describe_base(run) -> str:
    if DIGIT_ONLY in run.model.input_modes:
        return "the digit-only code"
    if run.model.decoder_needs_label or not encodes(run):
        return run.model.origin_text
    return "the mean code of the digit's test images"


def axes(run, basis: str, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Directions (k, d), their standard deviations (k,), and the basis actually used."""
    d = run.model.latent_dim
    if not encodes(run):  # no codes to measure: the model's own axes, on the prior N(0, I)'s scale
        directions = run.model.latent_axes(k).numpy().astype(np.float32)
        return directions, np.ones(len(directions), dtype=np.float32), run.model.axes_text
    codes = reference_codes(run.name)
    if basis == "Principal directions":
        directions, stds = principal_directions(codes, k)
        return directions, stds, basis.lower()
    k = min(k, d)
    return np.eye(d, dtype=np.float32)[:k], codes.std(0)[:k].astype(np.float32), "latent coordinates"


N_SLIDERS = 8


def reset_sliders() -> None:
    """Put every z-slider back to 0 before the widgets are drawn (so they show 0 too)."""
    for i in range(N_SLIDERS):
        st.session_state[f"sl_{i}"] = 0.0


def moved_code(run, digit: int, basis: str, offsets: list[float]) -> tuple[np.ndarray, str]:
    """The digit's code moved by ``offsets`` (in standard deviations) along the run's axes."""
    directions, stds, used = axes(run, basis, len(offsets))
    z = digit_code(run.name, int(digit)).copy()
    for i in range(directions.shape[0]):
        z = z + offsets[i] * stds[i] * directions[i]
    return z, used


def animation_gif(run, digit: int, basis: str, offsets: list[float], axis: int, frames: int = 31) -> str:
    """A looping GIF (data URI) of the code swept along ``axis`` from −3σ to +3σ and back."""
    import base64
    import io

    from PIL import Image

    directions, stds, _ = axes(run, basis, max(len(offsets), axis + 1))
    base, _ = moved_code(run, digit, basis, [o if i != axis else 0.0 for i, o in enumerate(offsets)])
    sweep = np.concatenate([np.linspace(-3, 3, frames), np.linspace(3, -3, frames)[1:-1]]).astype(np.float32)
    codes = base[None] + sweep[:, None] * stds[axis] * directions[axis][None]
    images = explore.decode(run.model, codes, int(digit))
    pictures = [Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).resize((168, 168), Image.NEAREST)
                for img in images]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=60, loop=0)
    return "data:image/gif;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


sliders_tab, interp_tab = st.tabs(["Latent sliders", "Interpolation"])


@st.fragment
def sliders() -> None:
    c1, c2, c3 = st.columns([2, 2, 1])
    digit = c1.selectbox("Digit", DIGITS, index=3, key="sl_digit")
    basis = c2.radio("Move along", ["Latent coordinates", "Principal directions"], horizontal=True, key="sl_basis",
                     help="Principal directions: PCA of 2,000 test codes. Slider units are standard "
                          "deviations of the test codes along each axis (of the prior for the GAN's "
                          "noise), so runs compare on one scale.")
    k = c3.number_input("Sliders", 1, N_SLIDERS, 4, key="sl_k")
    max_dim = max((r.model.latent_dim for r in runs if r.model.can(DECODE)), default=1)
    offsets = []
    names = []
    cols = st.columns(4)
    for i in range(min(int(k), max_dim)):
        names.append(f"{'z' if basis == 'Latent coordinates' else 'PC'}{i + 1}")
        st.session_state.setdefault(f"sl_{i}", 0.0)  # value through the state only, so Reset can set it
        offsets.append(cols[i % 4].slider(names[-1] + " (σ)", -3.0, 3.0, step=0.1, key=f"sl_{i}"))
    b1, b2, b3 = st.columns([1, 2, 2])
    b1.button("Reset sliders", key="sl_reset", on_click=reset_sliders)
    animate = b2.toggle("Animate along one axis", key="sl_animate",
                        help="Sweep the chosen axis from −3σ to +3σ and back, the other sliders where they are.")
    axis = b3.selectbox("Axis", range(len(names)), format_func=lambda i: names[i], key="sl_axis",
                        disabled=not animate) if animate else 0

    def render_sliders(run):
        if not run.model.can(DECODE):
            st.markdown(f"**{plain(run.label)}**")
            skip_note(run, "decode a latent code")
            return
        z, used = moved_code(run, int(digit), basis, offsets)
        picture = images_html(explore.decode(run.model, z[None], int(digit)), nrow=1, scale=6)
        if animate and int(axis) < len(offsets):
            uri = animation_gif(run, int(digit), basis, offsets, int(axis))
            picture += (f' <img class="dl-img" alt="animation along {html_text(names[int(axis)])}" width="168" '
                        f'height="168" style="image-rendering:pixelated" src="{uri}">')
        position = ", ".join(f"{n} {o:+.1f}σ" for n, o in zip(names, offsets))
        st.markdown(f"**{plain(run.label)}**<br>{picture}", unsafe_allow_html=True)
        st.caption(f"Digit {digit}: {describe_base(run)}, moved along {used} ({position})."
                   + (f" Right: {names[int(axis)]} swept from −3σ to +3σ." if animate else ""))

    side_by_side(runs, render_sliders, max_cols=4)


with sliders_tab:
    sliders()

@st.fragment
def interpolation() -> None:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    source = c1.radio("Between", ["Two test images", "Two digits", "Two random codes"], horizontal=True,
                      key="in_source", help="Random codes are drawn from N(0, I), the prior of the VAEs, the "
                                            "GAN's noise and the diffusion model's starting noise; a "
                                            "label-conditioned decoder gets the digit.")
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
        codes = explore.encode_dataset(run.model, test_x[[a, b]], test_y[[a, b]], encoder_input(run.model))
        return codes[0], codes[1], int(test_y[a]), int(test_y[b])

    def render_interp(run):
        st.markdown(f"**{plain(run.label)}**")
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


with interp_tab:
    interpolation()
