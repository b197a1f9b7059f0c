"""Reconstructions of chosen test images: originals above reconstructions, runs side by side."""

import numpy as np
import streamlit as st
import torch

from common import input_mode_for, seeded_indices, selected_runs, show_images, side_by_side, skip_note, test_set
from core import explore
from core.evaluation import bce_per_image
from core.models.base import IMAGE_AND_DIGIT, IMAGE_ONLY, RECONSTRUCT

st.title("Reconstructions")
runs = selected_runs()
test_x, test_y = test_set()

c1, c2, c3 = st.columns([2, 2, 3])
how = c1.radio("Test images", ["Random", "By index"], horizontal=True, key="rec_how")
count = c2.slider("How many", 4, 20, 10, key="rec_count")
if how == "Random":
    seed = c3.number_input("Seed", 0, 10_000, 0, key="rec_seed")
    indices = seeded_indices(len(test_x), count, seed)
else:
    text = c3.text_input("Test indices (0–9999, comma separated)", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9", key="rec_idx")
    try:
        indices = np.array([int(t) for t in text.replace(" ", "").split(",") if t != ""])
    except ValueError:
        st.error("Indices must be whole numbers separated by commas, e.g. `0, 7, 42`.")
        st.stop()
    bad = indices[(indices < 0) | (indices >= len(test_x))]
    if len(bad) or not len(indices):
        st.error(f"Indices must lie between 0 and {len(test_x) - 1}; got {bad.tolist() or 'none'}.")
        st.stop()
mode = st.radio("Input", [IMAGE_AND_DIGIT, IMAGE_ONLY], horizontal=True, key="rec_mode",
                format_func={IMAGE_AND_DIGIT: "image + digit", IMAGE_ONLY: "image only"}.get)

x = test_x[torch.as_tensor(indices)]
y = test_y[torch.as_tensor(indices)]
st.caption("Digits: " + " ".join(str(int(d)) for d in y) + f" · test indices {indices.tolist()}")


def render(run):
    st.markdown(f"**{run.label}**")
    if not run.model.can(RECONSTRUCT):
        skip_note(run, "reconstruct")
        return
    run_mode = input_mode_for(run, mode)
    x_hat = explore.reconstruct(run.model, x, y if run_mode == IMAGE_AND_DIGIT else None)
    pairs = torch.stack([x, x_hat], dim=0).reshape(-1, 1, 28, 28)  # originals row, then reconstructions
    show_images(pairs, nrow=len(x), scale=2)
    st.caption(f"Top: originals. Bottom: reconstructions. BCE of these images: "
               f"{float(bce_per_image(x, x_hat).mean()):.1f} nats per image.")


side_by_side(runs, render, max_cols=2)
