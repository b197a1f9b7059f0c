"""Draw a digit: MNIST-style preprocessing, live classification and reconstruction by every run.

The whole interactive part is one fragment: a stroke (sent by the sketchpad several times a
second while the pen is down, and at pen up) reruns only it. Predictions are drawn as one light
HTML block (no chart library), images inline.
"""

import numpy as np
import streamlit as st
import torch

from core.data.preprocess import EmptyDrawing, mnist_preprocess
from core.explore import latents as explore
from core.explore.archive import ArchiveEntry
from core.models.capabilities import CLASSIFY, IMAGE_ONLY, RECONSTRUCT, RESTYLE
from dashboard.common import (
    DRAWN_KEY,
    html_text,
    images_html,
    judge_run,
    noise_control,
    offer_runs,
    plain,
    png_data_uri,
    read_upload,
    selected_runs,
    session_archive,
)
from dashboard.components.sketchpad import sketchpad

st.title("Draw a digit")
runs = selected_runs()
judge = judge_run()
classifiers = [run for run in runs if run.model.can(CLASSIFY)] + ([judge] if judge else [])
restylers = [run for run in runs if run.model.can(RESTYLE)]

def card_html(run, probs: np.ndarray, recon: torch.Tensor | None) -> str:
    pred = int(probs.argmax())
    bars = "".join(f'<div class="dl-bar{" top" if d == pred else ""}" style="height:{max(1.0, 100 * p):.1f}%" '
                   f'title="p({d}) = {p:.3f}"></div>' for d, p in enumerate(probs))
    ticks = "".join(f"<span>{d}</span>" for d in range(10))
    extra = ""
    if recon is not None:
        extra = f'<div class="dl-p">Reconstruction (image only)</div>{images_html(recon, nrow=1, scale=3)}'
    return (f'<div class="dl-card" data-run="{html_text(run.name)}"><div class="dl-label">{html_text(run.label)}</div>'
            f'<div class="dl-pred">{pred}</div><div class="dl-p">p({pred}) = {probs[pred]:.3f}</div>'
            f'<div class="dl-bars">{bars}</div><div class="dl-ticks">{ticks}</div>{extra}</div>')


@st.fragment
def drawing_area() -> None:
    left, right = st.columns([3, 2])
    with left:
        source = st.radio("Input", ["Draw", "Upload an image"], horizontal=True, key="draw_source")
        if source == "Draw":
            brush = st.slider("Brush width", 8, 40, 20, key="draw_brush")
            raw = sketchpad("sketchpad", width=280, height=280, brush=brush, live_ms=150, clear_label="Clear canvas")
        else:
            raw = read_upload("draw", "A picture of one digit (PNG, JPEG, BMP)")
        noisy = noise_control("draw")

    x = None
    if raw is not None:
        try:
            x = torch.from_numpy(mnist_preprocess(raw)).reshape(1, 1, 28, 28)
        except EmptyDrawing:
            x = None
        except ValueError as exc:
            st.error(f"This picture cannot be used: {plain(exc)}")
    st.session_state[DRAWN_KEY] = None if x is None else x[0, 0].numpy()  # the clean digit, for the latent views
    # the archive's key of this input: a drawing keeps its key until the canvas is cleared
    if source == "Draw":
        if x is None and st.session_state.get("draw_archived_open"):
            st.session_state["draw_seq"] = st.session_state.get("draw_seq", 0) + 1
        st.session_state["draw_archived_open"] = x is not None
        archive_key, archive_source = f"drawn:{st.session_state.get('draw_seq', 0)}", "drawn"
    else:
        file_id, name = st.session_state.get("draw_upload_id", ("", ""))
        archive_key, archive_source = f"upload:{file_id}", f"uploaded: {name}"
    if x is not None and noisy is not None:
        x = noisy(x)

    with right:
        st.markdown("**What the models see** (28×28, MNIST preprocessing)")
        if x is None:
            st.info("Draw a digit on the canvas (or upload one) to see it classified. The models answer while "
                    "you draw.")
            return
        st.markdown(f'<img class="dl-img" alt="what the models see" width="168" height="168" '
                    f'style="image-rendering:pixelated;border:1px solid #dfe3e8" src="{png_data_uri(x[0, 0].numpy())}">',
                    unsafe_allow_html=True)
        st.caption("Bounding box scaled to fit 20×20 (aspect ratio kept), then centred by centre of mass "
                   "in 28×28, as MNIST was made" + (", then the noise chosen on the left." if noisy else "."))

    answers, cards = {}, []
    for run in classifiers:
        probs = explore.class_probabilities(run.model, x)
        answers[run.name] = int(probs.argmax())
        recon = None
        if run.model.can(RECONSTRUCT) and IMAGE_ONLY in run.model.input_modes:
            recon = explore.reconstruct(run.model, x, None)
        cards.append((run, probs, recon))
    session_archive().record(ArchiveEntry(
        key=archive_key + (f"|{noisy.text}" if noisy else ""), source=archive_source, image=x[0, 0].numpy(),
        answers={run.label: (int(probs.argmax()), float(probs.max())) for run, probs, _ in cards},
        noise=noisy.text if noisy else ""))
    summary = " · ".join(f"{html_text(run.label)}: <b>{answers[run.name]}</b> ({probs.max():.2f})"
                         for run, probs, _ in cards)
    st.markdown(f'<div class="dl-summary" data-testid="dl-summary">{summary}</div>'
                f'<div class="dl-cards">{"".join(card_html(*c) for c in cards)}</div>', unsafe_allow_html=True)
    skipped = [run.label for run in runs if not run.model.can(CLASSIFY)]
    if skipped:
        st.caption(f"{', '.join(plain(label) for label in skipped)} cannot classify: not shown.")
    if judge:
        accuracy = judge.metrics.get("classification_accuracy", {}).get("value")
        st.caption(f"**{plain(judge.label)}** is the independent judge classifier"
                   + (f" ({100 * accuracy:.2f} % on the MNIST test set)" if accuracy is not None else "")
                   + ", not one of the compared models.")

    if restylers:
        st.subheader("Your handwriting as every digit")
        st.caption("Models whose decoder takes the digit as a label keep your drawing's style (its latent code, "
                   "read with the digit the judge — or else the model itself — sees) and redraw it as 0–9.")
        blocks = []
        for run in restylers:
            digit = answers.get(judge.name if judge else run.name, answers.get(run.name, 0))
            with torch.no_grad():
                out = run.model.restyle(x.to(run.model.device), torch.tensor([digit], device=run.model.device),
                                        torch.arange(10, device=run.model.device))
            blocks.append(f'<div><b>{html_text(run.label)}</b> (read as a {digit})<br>'
                          f'{images_html(out[0].cpu(), nrow=10, scale=2)}</div>')
        st.markdown(f'<div class="dl-cards">{"".join(blocks)}</div>', unsafe_allow_html=True)


drawing_area()
if not restylers:  # outside the fragment: adding a run reruns the whole page (and its sidebar)
    st.subheader("Your handwriting as every digit")
    offer_runs(lambda run: run.can(RESTYLE), "can redraw your digit as every other digit (their decoders must "
               "take the digit as a label)", key="draw_restyle")
