"""Restyle: encode a digit's handwriting style and decode it as every digit 0–9."""

import streamlit as st
import torch

from core.models.capabilities import RESTYLE
from dashboard.common import plain, runs_that_can, seeded_indices, selected_runs, show_images, side_by_side, test_set

TARGETS = torch.arange(10)

st.title("Restyle")
st.markdown("A model whose decoder takes the digit as a label can keep the *style* of a handwritten digit "
            "(its latent code) and redraw it as any other digit. The drawing page restyles your own digit.")
chosen = selected_runs()
# the page never opens empty: when no chosen run restyles, a shipped one that can is shown (and offered)
runs = runs_that_can(lambda run: run.can(RESTYLE), "can restyle (their decoders must take the digit as a label)",
                     key="restyle", runs=chosen)
if not runs:
    st.stop()
test_x, test_y = test_set()

c1, c2 = st.columns([1, 3])
how = c1.radio("Source", ["Random test images", "By index"], key="rs_how")
if how == "By index":
    index = c2.number_input("Test index", 0, len(test_x) - 1, 0, key="rs_index")
    indices = [int(index)]
else:
    seed = c2.number_input("Seed", 0, 10_000, 0, key="rs_seed")
    indices = seeded_indices(len(test_x), 3, seed).tolist()
x, y = test_x[indices], test_y[indices]


def why_not(run) -> str:
    if run.model.can("decode") and not run.model.decoder_needs_label:
        return ("its decoder takes no digit: the digit is part of the latent code, so the image alone "
                "decides which digit comes out")
    return "it has no encoder to read a style from" if not run.model.can("encode") else "it does not restyle"


for run in chosen:
    if not run.model.can(RESTYLE):
        st.caption(f"Cannot restyle with **{plain(run.label)}**: {why_not(run)}.")


def render(run):
    st.markdown(f"**{plain(run.label)}**")
    with torch.no_grad():
        out = run.model.restyle(x.to(run.model.device), y.to(run.model.device), TARGETS.to(run.model.device))
    rows = torch.cat([torch.cat([x[i:i + 1], out[i].cpu()]) for i in range(len(indices))])
    show_images(rows, nrow=11, scale=2)
    st.caption("Each row: the source image, then its style as 0, 1, …, 9.")


side_by_side(runs, render, max_cols=2)
