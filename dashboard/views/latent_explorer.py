"""Latent sliders (move a digit's code along directions that change its image) and interpolation
between two codes, each image read by the judge.

Each tab is a fragment: a slider step reruns only its tab, and the decoded images are drawn inline
(no separate image requests). The directions (``core.explore.directions``) are computed once per
(run, basis, digit) and cached, so a step is one decode and one judge call per run. *Animate* renders
a looping GIF of the walk along one direction.
"""

import numpy as np
import streamlit as st
import torch

from core.explore import directions as directions_of
from core.explore import latents as explore
from core.explore.directions import BASES, PRINCIPAL, has_encoder
from core.models.capabilities import DECODE, encoder_input
from dashboard import background
from dashboard.common import (
    DIGITS,
    html_text,
    images_html,
    judge_run,
    plain,
    runs_that_can,
    seeded_indices,
    selected_runs,
    show_images,
    side_by_side,
    test_set,
)

st.title("Latent sliders & interpolation")
chosen = selected_runs()
#: the chosen runs that decode (or, when none does, a shipped one that does, said so above the tabs)
runs = runs_that_can(lambda run: run.can(DECODE), "decodes a latent code", key="explorer", runs=chosen)
if not runs:
    st.stop()
#: chosen runs that cannot decode: named once below the columns
NOT_DECODERS = [(run, "no decoder of latent codes") for run in chosen if not run.can(DECODE)]
test_x, test_y = test_set()
N_REFERENCE = 2000
REF = seeded_indices(len(test_x), N_REFERENCE, 0)  # reference test codes: the directions and their scales
N_SLIDERS = 8


def run_named(name: str):
    return next(r for r in runs if r.name == name)


@st.cache_resource(max_entries=64, show_spinner=False)
def reference_codes(run_name: str) -> np.ndarray:
    """Codes (2000, d) of the reference test images (image+digit where the model takes both)."""
    run = run_named(run_name)
    idx = torch.as_tensor(REF)
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], encoder_input(run.model))


@st.cache_resource(max_entries=256, show_spinner=False)
def digit_code(run_name: str, digit: int) -> np.ndarray:
    """Where the sliders start for a digit (:func:`core.explore.directions.starting_code`): (d,) float32."""
    model = run_named(run_name).model
    codes = reference_codes(run_name) if has_encoder(model) else None
    return directions_of.starting_code(model, int(digit), codes, test_y[torch.as_tensor(REF)].numpy())


@st.cache_resource(max_entries=64, show_spinner=False)
def decoder_jacobian(run_name: str, digit: int) -> directions_of.Jacobian:
    """The decoder's Jacobian at a digit's starting code (models without an encoder)."""
    return directions_of.decoder_jacobian(run_named(run_name).model, digit_code(run_name, digit), int(digit))


@st.cache_resource(max_entries=256, show_spinner=False)
def slider_directions(run_name: str, basis: str, digit: int | None) -> directions_of.Directions:
    """The first :data:`N_SLIDERS` directions of ``basis``: measured on the test codes for a model with an
    encoder (``digit`` None: the same for every digit), on the decoder's Jacobian at the digit's
    starting code for one without."""
    model = run_named(run_name).model
    if has_encoder(model):
        return directions_of.slider_directions(model, basis, None, N_SLIDERS, codes=reference_codes(run_name))
    return directions_of.slider_directions(model, basis, digit, N_SLIDERS, jacobian=decoder_jacobian(run_name, digit))


def directions_for(run, basis: str, digit: int) -> directions_of.Directions:
    return slider_directions(run.name, basis, None if has_encoder(run.model) else int(digit))


@st.cache_resource(max_entries=64, show_spinner=False)
def differentiable(run_name: str) -> bool:
    """True when the run's decoder passes gradients to its code (so a code can be fitted to an image)."""
    return directions_of.decodes_differentiably(run_named(run_name).model)


@st.cache_resource(max_entries=256, show_spinner=False)
def fitted_code(run_name: str, index: int) -> directions_of.FittedCodes:
    """A code fitted to test image ``index`` by a decoder without an encoder (given its true digit)."""
    return directions_of.fit_codes(run_named(run_name).model, test_x[[index]], test_y[[index]])


def readings(images: torch.Tensor) -> list[tuple[int, float]] | None:
    """The judge's (digit, probability) for each image (N, 1, 28, 28), in one call; None without a judge."""
    judge = judge_run()
    if judge is None:
        return None
    probs = explore.batch_probabilities(judge.model, images)
    return [(int(p.argmax()), float(p.max())) for p in probs]


def judge_says(reading: tuple[int, float] | None) -> str:
    """The judge's reading in words (as on the 2-D latent plane page), or "" without a judge."""
    return "" if reading is None else f"The judge reads a {reading[0]} (p = {reading[1]:.2f})."


def frames_html(images: torch.Tensor, read: list[tuple[int, float]] | None, scale: int = 2) -> str:
    """Frames (N, 1, 28, 28) side by side, each with the judge's digit and probability below it."""
    cells = []
    for i, image in enumerate(images):
        picture = images_html(image[None], nrow=1, scale=scale, title=f"frame {i + 1}")
        if read is None:
            cells.append(f'<div class="dl-frame">{picture}</div>')
        else:
            digit, p = read[i]
            cells.append(f'<div class="dl-frame" title="judge: {digit} ({p:.2f})">{picture}<br><b>{digit}</b><br>{p:.2f}</div>')
    return f'<div class="dl-frames">{"".join(cells)}</div>'


def left_out_line(left_out: list[tuple[object, str]]) -> None:
    """Name the runs left out of the columns, each once, with why, in one line below them (runs left
    out for the same reason together)."""
    reasons: dict[str, list[str]] = {}
    for run, why in left_out:
        reasons.setdefault(why, []).append(f"**{plain(run.label)}**")
    if reasons:
        listed = {why: ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
                  for why, names in reasons.items()}
        st.caption("Not shown: " + "; ".join(f"{names}: {why}" for why, names in listed.items()) + ".")


def reset_sliders() -> None:
    """Put every slider back to 0 before the widgets are drawn (so they show 0 too)."""
    for i in range(N_SLIDERS):
        st.session_state[f"sl_{i}"] = 0.0


def slider_name(basis: str, i: int) -> str:
    return f"PC{i + 1}" if basis == PRINCIPAL else f"Active {i + 1}"


def animation_gif(model, z: np.ndarray, digit: int, direction: np.ndarray, scale: float, frames: int = 31) -> str:
    """A looping GIF (data URI) of the code ``z`` swept along ``direction`` from −3 to +3 units and back."""
    import base64
    import io

    from PIL import Image

    sweep = np.concatenate([np.linspace(-3, 3, frames), np.linspace(3, -3, frames)[1:-1]]).astype(np.float32)
    images = explore.decode(model, z[None] + sweep[:, None] * scale * direction[None], int(digit))
    pictures = [Image.fromarray((img[0].numpy() * 255).round().astype(np.uint8)).resize((168, 168), Image.NEAREST)
                for img in images]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=60, loop=0)
    return "data:image/gif;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


sliders_tab, interp_tab = st.tabs(["Latent sliders", "Interpolation"])


@st.fragment
def sliders() -> None:
    c1, c2, c3 = st.columns([2, 3, 1])
    digit = int(c1.selectbox("Digit", DIGITS, index=3, key="sl_digit"))
    basis = c2.radio("Move along", BASES, horizontal=True, key="sl_basis",
                     help="Directions that change the image. With an encoder: the principal directions of "
                          "2,000 test codes (largest variance first), or the coordinates that vary most across "
                          "them (a VAE leaves many coordinates unused: moving those changes nothing); a slider "
                          "unit is the codes' standard deviation along the direction. Without an encoder: "
                          "the directions along which the decoder's image changes most at the digit's starting "
                          "code, or the coordinates that change it most; a unit is one standard deviation of "
                          "the prior N(0, I).")
    k = c3.number_input("Sliders", 1, N_SLIDERS, 4, key="sl_k")
    max_dim = max(r.model.latent_dim for r in runs)
    offsets, names = [], []
    cols = st.columns(4)
    for i in range(min(int(k), max_dim)):
        names.append(slider_name(basis, i))
        st.session_state.setdefault(f"sl_{i}", 0.0)  # value through the state only, so Reset can set it
        offsets.append(cols[i % 4].slider(names[-1] + " (σ)", -3.0, 3.0, step=0.1, key=f"sl_{i}"))
    b1, b2, b3 = st.columns([1, 2, 2])
    b1.button("Reset sliders", key="sl_reset", on_click=reset_sliders)
    animate = b2.toggle("Animate along one axis", key="sl_animate",
                        help="Sweep the chosen direction from −3σ to +3σ and back, the other sliders where they are.")
    axis = int(b3.selectbox("Direction", range(len(names)), format_func=lambda i: names[i], key="sl_axis")
               if animate else 0)

    def slider_picture(run) -> dict[str, str]:
        """One run's column (any thread: no streamlit call): its moved code decoded, read by the judge,
        and what was moved, as HTML and captions."""
        model = run.model
        found = directions_for(run, basis, digit)
        start = digit_code(run.name, digit)
        z = found.move(start, offsets)
        image = explore.decode(model, z[None], digit)
        picture = images_html(image, nrow=1, scale=6, title="decoded code")
        if animate and axis < len(found):
            base = found.move(start, [o if i != axis else 0.0 for i, o in enumerate(offsets)])
            uri = animation_gif(model, base, digit, found.vectors[axis], float(found.scales[axis]))
            picture += (f' <img class="dl-img" alt="animation along {html_text(found.names[axis])}" width="168" '
                        f'height="168" src="{uri}">')
        moved = ", ".join(f"{n} {o:+.1f}σ" for n, o in zip(found.names, offsets))
        extra = (f" Its latent has {len(found)} dimensions: the sliders after {names[len(found) - 1]} do nothing here."
                 if len(found) < len(offsets) else "")
        sweep = (f" Right: {found.names[axis]} swept from −3σ to +3σ." if animate and axis < len(found) else "")
        return {"picture": picture, "said": judge_says((readings(image) or [None])[0]),
                "caption": f"Digit {digit}: {directions_of.starting_text(model)}, moved along {found.text}: {moved}. "
                           f"One unit (σ) is {found.unit}.{extra}{sweep}"}

    def show_slider_picture(shown: dict[str, str]) -> None:
        st.markdown(shown["picture"], unsafe_allow_html=True)
        if shown["said"]:
            st.caption(shown["said"])
        st.caption(shown["caption"])

    def render_sliders(run):
        """One run's column: drawn at once for a fast model, by a background thread for a slow one (its
        first directions, or each decode, measured slow: dashboard/background.py), never holding the others."""
        st.markdown(f"**{plain(run.label)}**")
        background.draw(f"sliders/{run.name}", ("sliders", str(run.path), basis, digit, tuple(offsets), animate, axis),
                        lambda: slider_picture(run), show_slider_picture, waiting="Decoding the moved code",
                        # measured apart per basis and digit: their first picture also finds the directions
                        cost=f"sliders/{run.name}/{basis}/{digit}")

    side_by_side(runs, render_sliders, max_cols=4)
    left_out_line(NOT_DECODERS)


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
        a = int(c2.number_input("Image A (test index)", 0, len(test_x) - 1, 3, key="in_a"))
        b = int(c3.number_input("Image B (test index)", 0, len(test_x) - 1, 2, key="in_b"))
        st.caption(f"A is a {int(test_y[a])}, B is a {int(test_y[b])}.")
        show_images(test_x[[a, b]], nrow=2, scale=2, caption="A and B")
    elif source == "Two digits":
        a = int(c2.selectbox("Digit A", DIGITS, index=1, key="in_da"))
        b = int(c3.selectbox("Digit B", DIGITS, index=7, key="in_db"))
    fixed_digit = None
    if source == "Two random codes":
        a = int(c2.number_input("Seed A", 0, 10_000, 0, key="in_sa"))
        b = int(c3.number_input("Seed B", 0, 10_000, 1, key="in_sb"))
        fixed_digit = int(c1.selectbox("Digit (label-conditioned decoders)", DIGITS, index=5, key="in_digit"))
    n_frames = c4.slider("Frames", 3, 15, 9, key="in_frames")
    t = st.slider("Position between A and B", 0.0, 1.0, 0.5, 0.05, key="in_t")

    def why_not(run) -> str | None:
        """Why a run cannot show this interpolation (a sentence), or None when it can."""
        model = run.model
        if source == "Two digits" and model.decoder_needs_label:
            return ("the digit goes to the decoder as a separate label, so no latent code stands for a digit "
                    "(try two test images or two random codes)")
        if source == "Two test images" and not has_encoder(model) and not differentiable(run.name):
            return ("no encoder, and a decoder that passes no gradient, so no code can be fitted to a test image "
                    "(try two random codes)")
        return None

    def endpoints(run) -> tuple[np.ndarray, np.ndarray, int, int, str]:
        """The codes of A and B, the digits a label-conditioned decoder gets, and how the codes were
        found ("" when it goes without saying); for a run :func:`why_not` lets through."""
        model = run.model
        if source == "Two random codes":
            z = [np.random.default_rng(s).standard_normal(model.latent_dim).astype(np.float32) for s in (a, b)]
            return z[0], z[1], fixed_digit, fixed_digit, ""
        if source == "Two digits":
            text = directions_of.starting_text(model)
            return digit_code(run.name, a), digit_code(run.name, b), a, b, f"A and B: {text}, for each digit."
        if has_encoder(model):
            codes = explore.encode_dataset(model, test_x[[a, b]], test_y[[a, b]], encoder_input(model))
            return codes[0], codes[1], int(test_y[a]), int(test_y[b]), ""
        fits = [fitted_code(run.name, i) for i in (a, b)]
        note = (f"It has no encoder: the codes of A and B were fitted so that its decoder, given each image's "
                f"digit, draws the image ({fits[0].steps} Adam steps on the pixel error from "
                f"{directions_of.FIT_RESTARTS} draws of the prior; mean pixel error of A "
                f"{fits[0].error[0]:.3f}, of B {fits[1].error[0]:.3f}).")
        return fits[0].codes[0], fits[1].codes[0], int(test_y[a]), int(test_y[b]), note

    def interpolation_pictures(run) -> dict[str, str]:
        """One run's column (any thread: no streamlit call): the image at t and the frames from A to B,
        each read by the judge, as HTML and captions."""
        z_a, z_b, digit_a, digit_b, note = endpoints(run)
        model = run.model
        frames = explore.interpolate_codes(z_a, z_b, n_frames)
        near = [digit_a if s < 0.5 else digit_b for s in np.linspace(0, 1, n_frames)]
        images = torch.cat([explore.decode(model, ((1 - t) * z_a + t * z_b)[None], digit_a if t < 0.5 else digit_b)]
                           + [explore.decode(model, z[None], dg) for z, dg in zip(frames, near)])
        read = readings(images)
        notes = []
        if model.decoder_needs_label and digit_a != digit_b:
            notes.append(f"Its decoder takes the digit as a label: {digit_a} for the first half, {digit_b} after.")
        if note:
            notes.append(note)
        return {"at_t": images_html(images[:1], nrow=1, scale=6, title=f"t = {t:.2f}"),
                "said": f"t = {t:.2f}. " + judge_says(None if read is None else read[0]),
                "frames": frames_html(images[1:], None if read is None else read[1:]),
                "frames_caption": "A → B, linear in the latent space" + (", each frame read by the judge." if read else "."),
                "notes": notes}

    def show_interpolation(shown: dict) -> None:
        st.markdown(shown["at_t"], unsafe_allow_html=True)
        st.caption(shown["said"])
        st.markdown(shown["frames"], unsafe_allow_html=True)
        st.caption(shown["frames_caption"])
        for note in shown["notes"]:
            st.caption(note)

    def render_interp(run):
        """One run's column, drawn at once for a fast model and by a background thread for a slow one."""
        st.markdown(f"**{plain(run.label)}**")
        background.draw(f"interpolation/{run.name}",
                        ("interpolation", str(run.path), source, a, b, fixed_digit, n_frames, t),
                        lambda: interpolation_pictures(run), show_interpolation,
                        waiting=f"Decoding {n_frames + 1} codes",
                        cost=f"interpolation/{run.name}/{source}")  # the first may fit codes to the test images

    reasons = {run.name: why_not(run) for run in runs}
    side_by_side([r for r in runs if reasons[r.name] is None], render_interp, max_cols=2)
    left_out_line([(r, reasons[r.name]) for r in runs if reasons[r.name] is not None] + NOT_DECODERS)


with interp_tab:
    interpolation()
