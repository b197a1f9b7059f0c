"""Read a handwritten number (seed 002: bank-card, cheque, postal-code and phone numbers): the digits
of a wide drawing or an uploaded picture are found, cut out, and read by every classifier."""

import numpy as np
import streamlit as st

from core.data.preprocess import EmptyDrawing
from core.data.segment import MAX_DIGITS, TooManyDigits, digit_images, find_digits
from core.explore import latents as explore
from core.explore.archive import ArchiveEntry
from core.models.capabilities import CLASSIFY
from dashboard.common import (
    archive_key,
    html_text,
    images_html,
    judge_run,
    plain,
    png_data_uri,
    read_upload,
    selected_runs,
    session_archive,
    upload_failed,
)
from dashboard.components.sketchpad import sketchpad

st.title("Read a number")
st.markdown("Write several digits in a row (or upload a picture of a number): the digits are found as "
            "connected strokes (broken strokes joined; touching digits cut the way the judge is surest of), "
            f"each is brought to MNIST's 28×28 form, and every classifier reads the number (up to {MAX_DIGITS} "
            "digits). Measured on 1,000 synthetic numbers: `python scripts/read_numbers.py`.")
session_archive()  # outside the fragment: on a first visit it asks the browser for its id (one page rerun)
runs = selected_runs()
judge = judge_run()
readers = [run for run in runs if run.model.can(CLASSIFY)] + ([judge] if judge else [])
if not readers:
    st.info("None of the chosen runs can classify, and there is no judge: pick a classifier in the sidebar.")
    st.stop()


def judge_reader(images: np.ndarray) -> np.ndarray:
    return explore.batch_probabilities(judge.model, images)


def boxes_png(ink: np.ndarray, boxes) -> str:
    """The picture with a numbered box around each digit found, as an inline PNG ``data:`` URI."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for k, box in enumerate(boxes, 1):
        draw.rectangle([box.left, box.top, box.right - 1, box.bottom - 1], outline=(228, 87, 46), width=2)
        draw.text((box.left + 2, max(0, box.top - 11)), str(k), fill=(228, 87, 46))
    return png_data_uri(np.asarray(picture))


@st.fragment
def reading_area() -> None:
    source = st.radio("Input", ["Draw", "Upload a picture"], horizontal=True, key="num_source")
    drawing = source == "Draw"
    if drawing:
        ink = sketchpad("number_pad", width=840, height=200, brush=14, live_ms=0, clear_label="Clear canvas")
        archive_source = "number drawn"
    else:
        ink = read_upload("num", "A picture of a handwritten number (PNG, JPEG, BMP)")
        archive_source = f"number uploaded: {st.session_state.get('num_upload_id', ('', ''))[1]}"
    # one drawn number keeps its archive key until the canvas is cleared
    key = archive_key("num", drawing, ink is not None, upload_id=st.session_state.get("num_upload_id", ("", ""))[0])
    if ink is None:
        if drawing or not upload_failed("num"):  # read_upload said why the picture cannot be read
            st.info("Write a number on the canvas (or upload one): it is read when you lift the pen.")
        return
    try:
        boxes = find_digits(ink, reader=judge_reader if judge else None)
    except EmptyDrawing:
        st.info("Write a number on the canvas (or upload one): it is read when you lift the pen.")
        return
    except TooManyDigits as exc:
        st.error(f"{plain(exc)}. Write fewer digits, or crop the picture to the number.")
        return
    digits = digit_images(ink, boxes)
    st.markdown(f'<img class="dl-img" alt="the digits found" style="max-width:100%;image-rendering:auto" '
                f'src="{boxes_png(ink, boxes)}">', unsafe_allow_html=True)
    st.caption(f"{len(boxes)} digit{'s' if len(boxes) != 1 else ''} found, numbered left to right; each as the "
               "models see it:")
    st.markdown(images_html(digits, nrow=len(digits), scale=2, title="the digits, 28×28 each"), unsafe_allow_html=True)
    rows, answers = [], {}
    for run in readers:
        probs = explore.batch_probabilities(run.model, digits)
        answers[run.label] = [(int(p.argmax()), float(p.max())) for p in probs]
        number = "".join(str(int(p.argmax())) for p in probs)
        surest = " ".join(f"{p.max():.2f}" for p in probs)
        rows.append(f'<tr data-run="{html_text(run.name)}"><td>{html_text(run.label)}</td>'
                    f'<td class="dl-number"><b>{number}</b></td><td>{surest}</td></tr>')
    n = len(digits)
    session_archive(ask_browser=False).record_group([
        ArchiveEntry(key=key, source=f"{archive_source}, digit {k + 1} of {n}", image=digits[k, 0],
                     answers={label: read[k] for label, read in answers.items()}) for k in range(n)])
    st.html('<table class="dl-table" data-testid="number-readings"><thead><tr><th>model</th><th>reads</th>'
            f"<th>probability of each digit read</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


reading_area()
