"""Reconstructions of chosen test images: originals above reconstructions, runs side by side; with a
noise control (seed 002, Fig. 10): the models read and reconstruct a noisy copy, scored against the
clean images."""

import numpy as np
import streamlit as st
import torch

from core.explore import latents as explore
from core.models.capabilities import CLASSIFY, IMAGE_AND_DIGIT, IMAGE_ONLY, RECONSTRUCT
from core.models.functional import bce_per_image
from dashboard.common import (
    input_mode_for,
    judge_run,
    noise_control,
    plain,
    runs_that_can,
    seeded_indices,
    show_images,
    side_by_side,
    test_set,
)

st.title("Reconstructions")
runs = runs_that_can(lambda run: run.can(RECONSTRUCT), "can reconstruct an image", key="rec",
                     cannot="reconstruct: they have no encoder")
if not runs:
    st.stop()
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
noisy = noise_control("rec")
x_in = x if noisy is None else noisy(x)
st.caption("Digits: " + " ".join(str(int(d)) for d in y) + f" · test indices {indices.tolist()}")
judge = judge_run()
if judge is not None:
    read = explore.predicted_digits(judge.model, x_in)
    st.caption(f"The judge reads {int((read == y.numpy()).sum())} of these {len(x)} "
               f"{'noisy ' if noisy is not None else ''}images right.")


def render(run):
    st.markdown(f"**{plain(run.label)}**")
    run_mode = input_mode_for(run, mode)
    x_hat = explore.reconstruct(run.model, x_in, y if run_mode == IMAGE_AND_DIGIT else None)
    rows = [x] + ([x_in] if noisy is not None else []) + [x_hat]  # originals, noisy inputs, reconstructions
    show_images(torch.stack(rows, dim=0).reshape(-1, 1, 28, 28), nrow=len(x), scale=2)
    what = "Top: originals. Middle: the noisy inputs. Bottom: reconstructions" if noisy is not None else \
        "Top: originals. Bottom: reconstructions"
    text = (f"{what}. BCE against the clean images: {float(bce_per_image(x, x_hat).mean()):.1f} nats per image.")
    if run.model.can(CLASSIFY):
        read = explore.predicted_digits(run.model, x_in)
        text += f" Reads {int((read == y.numpy()).sum())} of {len(x)} right."
    st.caption(text)


side_by_side(runs, render, max_cols=2)
