"""Draw a digit: MNIST-style preprocessing, live classification and reconstruction by every run.

The whole interactive part is one fragment: a stroke (sent by the sketchpad several times a
second while the pen is down, and at pen up) reruns only it. Predictions are drawn as one light
HTML block (no chart library), images inline. Each drawing (or upload) is one entry of this
browser's archive (the Archive page), updated in place as the drawing grows or its noise changes.
"""

import numpy as np
import streamlit as st
import torch

from core.data.corruptions import DRAWING_NOISE_KINDS
from core.data.preprocess import EmptyDrawing, mnist_preprocess
from core.explore import latents as explore
from core.explore.archive import ArchiveEntry
from core.models.capabilities import CLASSIFY, IMAGE_ONLY, RECONSTRUCT, RESTYLE
from dashboard.common import (
    DRAWN_KEY,
    archive_key,
    chosen_names,
    html_text,
    images_html,
    judge_run,
    noise_control,
    plain,
    png_data_uri,
    read_upload,
    runs_that_can,
    selected_runs,
    session_archive,
    upload_failed,
)
from dashboard.components.sketchpad import sketchpad

st.title("Draw a digit")
session_archive()  # outside the fragment: on a first visit it asks the browser for its id (one page rerun)
runs = selected_runs()
judge = judge_run()
classifiers = [run for run in runs if run.model.can(CLASSIFY)] + ([judge] if judge else [])
st.caption("Each drawing is **one entry** of this browser's **Archive** page, updated as the drawing grows or "
           "its noise changes; **Clear canvas** starts the next entry, another upload too. Say which digit you "
           "drew to see each model's accuracy on your handwriting there.")

DIGIT_CHOICES = [None, *range(10)]


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


def picture_html(image: np.ndarray, alt: str, testid: str) -> str:
    return (f'<figure class="dl-figure" style="display:inline-block;margin:0 12px 0 0">'
            f'<img class="dl-img" data-testid="{testid}" alt="{html_text(alt)}" width="168" height="168" '
            f'style="image-rendering:pixelated;border:1px solid #dfe3e8" src="{png_data_uri(image)}">'
            f'<figcaption style="font-size:0.8rem">{html_text(alt)}</figcaption></figure>')


def save_truth(key: str, widget: str) -> None:
    """The true-digit selectbox's callback: write the chosen digit into the drawing's archive entry."""
    session_archive(ask_browser=False).set_truth_of(key, st.session_state.get(widget))


def restyle_section(x: torch.Tensor | None, answers: dict[str, int]) -> None:
    """Your drawing (float (1, 1, 28, 28) in [0, 1], or None before one) redrawn as every digit by the
    chosen runs that can, or by a shipped one (said so, with a button that adds it)."""
    st.subheader("Your handwriting as every digit")
    restylers = runs_that_can(lambda run: run.can(RESTYLE), "can redraw your digit as every other digit (their "
                              "decoders must take the digit as a label)", key="draw_restyle", runs=runs)
    if not restylers:
        return
    st.caption("Models whose decoder takes the digit as a label keep your drawing's style (its latent code, "
               "read with the digit the judge — or else the model itself — sees) and redraw it as 0–9.")
    if x is None:
        st.caption("Draw a digit above to see it here.")
        return
    blocks = []
    for run in restylers:
        if judge is not None:
            digit = answers[judge.name]
        elif run.name in answers:
            digit = answers[run.name]
        elif run.model.can(CLASSIFY):
            digit = int(explore.class_probabilities(run.model, x).argmax())
        else:
            digit = 0
        with torch.no_grad():
            out = run.model.restyle(x.to(run.model.device), torch.tensor([digit], device=run.model.device),
                                    torch.arange(10, device=run.model.device))
        blocks.append(f'<div><b>{html_text(run.label)}</b> (read as a {digit})<br>'
                      f'{images_html(out[0].cpu(), nrow=10, scale=2)}</div>')
    st.markdown(f'<div class="dl-cards">{"".join(blocks)}</div>', unsafe_allow_html=True)


@st.fragment
def drawing_area() -> None:
    if [run.name for run in runs] != chosen_names():  # a run was added below (its button reran only this)
        st.rerun(scope="app")
    left, right = st.columns([3, 2])
    with left:
        source = st.radio("Input", ["Draw", "Upload an image"], horizontal=True, key="draw_source")
        drawing = source == "Draw"
        if drawing:
            brush = st.slider("Brush width", 8, 40, 20, key="draw_brush")
            raw = sketchpad("sketchpad", width=280, height=280, brush=brush, live_ms=150, clear_label="Clear canvas")
        else:
            raw = read_upload("draw", "A picture of one digit (PNG, JPEG, BMP)")
        noisy = noise_control("draw", kinds=DRAWING_NOISE_KINDS)

    failed = not drawing and upload_failed("draw")  # read_upload said why: no prompt beside it
    clean = None
    if raw is not None:
        try:
            clean = torch.from_numpy(mnist_preprocess(raw)).reshape(1, 1, 28, 28)
        except EmptyDrawing:
            clean = None
        except ValueError as exc:
            with left:
                st.error(f"This picture cannot be used: {plain(exc)}. Try another picture of one digit.")
            failed = True
    st.session_state[DRAWN_KEY] = None if clean is None else clean[0, 0].numpy()  # the clean digit, for the latent views
    file_id, name = st.session_state.get("draw_upload_id", ("", ""))
    key = archive_key("draw", drawing, clean is not None, upload_id=file_id)

    with right:
        st.markdown("**What the models see** (28×28, MNIST preprocessing)")
        if clean is None:
            if not failed:
                st.info("Draw a digit on the canvas to see it classified: the models answer while you draw."
                        if drawing else "Upload a picture of one digit to see it classified.")
        else:
            x = clean if noisy is None else noisy(clean)
            pictures = picture_html(clean[0, 0].numpy(), "your digit", "draw-clean")
            if noisy is not None:
                pictures += picture_html(x[0, 0].numpy(), "with the noise", "draw-noisy")
            st.markdown(pictures, unsafe_allow_html=True)
            st.caption("Bounding box scaled to fit 20×20 (aspect ratio kept), then centred by centre of mass "
                       "in 28×28, as MNIST was made" + (f", then {plain(noisy.text)}: the models see the picture "
                                                       "with the noise." if noisy else "."))
    if clean is None:
        restyle_section(None, {})
        return

    answers, cards = {}, []
    for run in classifiers:
        probs = explore.class_probabilities(run.model, x)
        answers[run.name] = int(probs.argmax())
        recon = None
        if run.model.can(RECONSTRUCT) and IMAGE_ONLY in run.model.input_modes:
            recon = explore.reconstruct(run.model, x, None)
        cards.append((run, probs, recon))
    archive = session_archive(ask_browser=False)
    archive.record(ArchiveEntry(
        key=key, source="drawn" if drawing else f"uploaded: {name}", image=x[0, 0].numpy(),
        answers={run.label: (int(probs.argmax()), float(probs.max())) for run, probs, _ in cards},
        noise=noisy.text if noisy else ""))
    with right:
        entry = archive.entry_for(key)
        truth = entry.truth if entry is not None else None
        widget = f"draw_truth_{key}"
        st.selectbox("Which digit is it?", DIGIT_CHOICES, index=DIGIT_CHOICES.index(truth), key=widget,
                     format_func=lambda d: "not said" if d is None else str(d), on_change=save_truth,
                     args=(key, widget), help="Kept with this drawing's archive entry: the Archive page gives each "
                                              "model's accuracy on the digits whose true digit you said.")

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
    restyle_section(x, answers)


drawing_area()
