"""Latent space: test-set latent codes projected to 2-D (PCA or UMAP), coloured by digit."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st
import torch

from common import input_mode_for, seeded_indices, selected_runs, show_images, side_by_side, skip_note, test_set
from core import explore
from core.models.base import ENCODE, IMAGE_AND_DIGIT, IMAGE_ONLY
from core.projections import project

st.title("Latent space")
runs = selected_runs()
test_x, test_y = test_set()

c1, c2, c3 = st.columns([1, 2, 2])
method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="lat_method")
n_points = c2.select_slider("Test images", [1000, 2000, 5000, 10000], value=2000, key="lat_n",
                            help="A fixed random subset of the test set (seed 0); UMAP takes longer on more points.")
mode = c3.radio("Encoder input", [IMAGE_AND_DIGIT, IMAGE_ONLY], horizontal=True, key="lat_mode",
                format_func={IMAGE_AND_DIGIT: "image + digit", IMAGE_ONLY: "image only"}.get)
indices = seeded_indices(len(test_x), n_points, 0)
st.caption("Hover a point for its digit and test index; drag a box (or use the lasso) over points to see their images. "
           + ("UMAP is computed once per run and setting, then read from the disk cache." if method == "UMAP" else ""))


@st.cache_data(max_entries=32, show_spinner=False)
def projection(run_name: str, method: str, mode: str, n: int) -> np.ndarray:
    run = {r.name: r for r in runs}[run_name]
    idx = torch.as_tensor(seeded_indices(len(test_x), n, 0))
    codes = explore.encode_dataset(run.model, test_x[idx], test_y[idx], mode)
    return codes if codes.shape[1] == 2 else project(codes, method=method, seed=0)


def render(run):
    st.markdown(f"**{run.label}**")
    if not run.model.can(ENCODE) or not run.model.input_modes:
        skip_note(run, "encode images")
        return
    run_mode = input_mode_for(run, mode)
    with st.spinner(f"Projecting {n_points} codes with {method}…"):
        xy = projection(run.name, method, run_mode, n_points)
    direct = run.model.latent_dim == 2
    axis_labels = {"x": "z1", "y": "z2"} if direct else {"x": f"{method} 1", "y": f"{method} 2"}
    if direct:
        st.caption("2-D latent: the codes are shown directly, without projection.")
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "digit": test_y[indices].numpy().astype(str),
                          "index": indices})
    fig = px.scatter(frame, x="x", y="y", color="digit", custom_data=["index", "digit"],
                     category_orders={"digit": [str(d) for d in range(10)]},
                     labels=axis_labels, opacity=0.7)
    fig.update_traces(marker_size=4, hovertemplate="digit %{customdata[1]}<br>test index %{customdata[0]}<extra></extra>")
    fig.update_layout(height=460, legend_title_text="digit", margin=dict(l=10, r=10, t=10, b=10), dragmode="select")
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("points", "lasso", "box"),
                            key=f"lat_chart_{run.name}_{method}_{mode}_{n_points}")
    points = event.selection.points if event and event.selection else []
    picked = [int(p["customdata"][0]) for p in points if p.get("customdata")][:20]
    if picked:
        show_images(test_x[torch.as_tensor(picked)], nrow=10, scale=2,
                    caption="Selected: " + ", ".join(f"#{i} ({int(test_y[i])})" for i in picked))


side_by_side(runs, render, max_cols=2)
