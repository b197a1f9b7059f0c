"""A 2-D latent plane shown directly: test codes coloured by digit, the decoded manifold, and any
point of the plane decoded at once where you click or drag."""

import numpy as np
import streamlit as st
import torch

from core.explore import latents as explore
from core.models.capabilities import DECODE, ENCODE, encoder_input
from dashboard.common import (
    drawn_code,
    images_html,
    judge_run,
    plain,
    runs_that_can,
    seeded_indices,
    selected_runs,
    side_by_side,
    test_set,
    thumbnails,
    usable,
)
from dashboard.components.latent_scatter import latent_scatter

st.title("2-D latent plane")
st.markdown("Models with a two-dimensional latent need no projection: each test image's code μ is a point "
            "of the plane, and every point of the plane decodes to an image. **Click or drag on the plane** to "
            "decode that point. The colours are the true digits, which an unsupervised model never saw.")


def plane_model(run) -> bool:
    return (run.latent_dim == 2 and run.can(ENCODE) and run.can(DECODE)
            and not run.card.get("decoder_needs_label", False))


# the page never opens empty: when no chosen run has such a plane, a shipped one that has is shown (and offered)
# (picked from the cards: only the runs shown load their weights)
runs = [run for run in runs_that_can(plane_model, "has a 2-D latent that decodes without a label", key="plane",
                                     runs=selected_runs(load=False)) if usable(run)]
if not runs:
    st.stop()

test_x, test_y = test_set()
c1, c2, c3 = st.columns(3)
limit = c1.slider("Plane range ±", 0.5, 6.0, 3.0, 0.5, key="plane_range",
                  help="The manifold grid decodes z1, z2 over [−range, range]; the prior N(0, I) puts "
                       "95 % of its mass within ±2.")
steps = c2.slider("Grid size", 5, 25, 15, key="plane_steps")
n_points = c3.select_slider("Test images", [1000, 2000, 5000, 10000], value=5000, key="plane_n")
indices = seeded_indices(len(test_x), n_points, 0)


@st.cache_resource(max_entries=16, show_spinner=False)
def codes(run_name: str, n: int) -> np.ndarray:
    run = next(r for r in runs if r.name == run_name)
    idx = torch.as_tensor(seeded_indices(len(test_x), n, 0))
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], encoder_input(run.model))


def drawn_point(run):
    """The drawn digit's (z1, z2) in this run's plane, or None."""
    z = drawn_code(run, encoder_input(run.model))
    return None if z is None else (float(z[0]), float(z[1]))


@st.fragment
def probe(run) -> None:
    """The plane and the decoded point: a click or drag reruns only this part."""
    z = codes(run.name, n_points)
    left, right = st.columns([3, 1])
    with left:
        event = latent_scatter(z, test_y[torch.as_tensor(indices)].numpy(), key=f"plane_{run.name}_{n_points}",
                               thumbnails=thumbnails(n_points), ids=indices, marker=drawn_point(run),
                               marker_label="your digit", drag="probe", axis_labels=("z1", "z2"),
                               square=float(limit), height=420)
    point = (event or {}).get("point")
    with right:
        if point is None:
            st.caption("Click or drag on the plane to decode a point.")
        else:
            image = explore.decode(run.model, np.array([point], dtype=np.float32))
            st.markdown(f"**z = ({point[0]:+.2f}, {point[1]:+.2f})**<br>"
                        + images_html(image, nrow=1, scale=6, title=f"decoded at {point}"), unsafe_allow_html=True)
            judge = judge_run()
            if judge:
                probs = explore.class_probabilities(judge.model, image[0])
                st.caption(f"The judge reads a {int(probs.argmax())} (p = {probs.max():.2f}).")


def render(run):
    st.markdown(f"**{plain(run.label)}**")
    probe(run)
    grid = explore.manifold_grid(run.model, limit, steps)
    st.markdown(images_html(grid, nrow=steps, scale=1 if steps > 15 else 2, title="decoded grid"),
                unsafe_allow_html=True)
    st.caption(f"Decoded grid: z1 from −{limit} to {limit} left to right, z2 from {limit} to −{limit} "
               "top to bottom (the dotted square on the plot).")


side_by_side(runs, render, max_cols=2)
