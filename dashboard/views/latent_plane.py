"""A 2-D latent plane shown directly: test codes coloured by digit, and the decoded manifold."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st
import torch

from common import runs_and_errors, seeded_indices, selected_runs, show_images, side_by_side, test_set
from core import explore
from core.models.base import DECODE, ENCODE

st.title("2-D latent plane")
st.markdown("Models with a two-dimensional latent need no projection: each test image's code μ is a point "
            "of the plane, and every point of the plane decodes to an image. The colours are the true "
            "digits, which an unsupervised model never saw.")


def plane_model(run) -> bool:
    m = run.model
    return m.latent_dim == 2 and m.can(ENCODE) and m.can(DECODE) and not m.decoder_needs_label


runs = [r for r in selected_runs() if plane_model(r)]
if not runs:
    candidates = [r.name for r in runs_and_errors()[0].values() if plane_model(r)]
    st.info("None of the selected runs has a 2-D latent. Add one in the sidebar"
            + (f": {', '.join(candidates)}." if candidates else " (none is shipped)."))
    st.stop()

test_x, test_y = test_set()
c1, c2, c3 = st.columns(3)
limit = c1.slider("Plane range ±", 0.5, 6.0, 3.0, 0.5, key="plane_range",
                  help="The manifold grid decodes z1, z2 over [−range, range]; the prior N(0, I) puts "
                       "95 % of its mass within ±2.")
steps = c2.slider("Grid size", 5, 25, 15, key="plane_steps")
n_points = c3.select_slider("Test images", [1000, 2000, 5000, 10000], value=5000, key="plane_n")
indices = seeded_indices(len(test_x), n_points, 0)


@st.cache_data(max_entries=16, show_spinner=False)
def codes(run_name: str, n: int) -> np.ndarray:
    run = {r.name: r for r in runs}[run_name]
    idx = torch.as_tensor(seeded_indices(len(test_x), n, 0))
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], run.model.input_modes[0])


def render(run):
    st.markdown(f"**{run.label}**")
    z = codes(run.name, n_points)
    frame = pd.DataFrame({"z1": z[:, 0], "z2": z[:, 1], "digit": test_y[indices].numpy().astype(str),
                          "index": indices})
    fig = px.scatter(frame, x="z1", y="z2", color="digit", custom_data=["index", "digit"], opacity=0.7,
                     category_orders={"digit": [str(d) for d in range(10)]})
    fig.update_traces(marker_size=4, hovertemplate="digit %{customdata[1]}<br>test index %{customdata[0]}<extra></extra>")
    fig.add_shape(type="rect", x0=-limit, x1=limit, y0=-limit, y1=limit, line=dict(color="#1d2733", dash="dot"))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), legend_title_text="digit")
    st.plotly_chart(fig, width="stretch", key=f"plane_{run.name}")
    grid = explore.manifold_grid(run.model, limit, steps)
    show_images(grid, nrow=steps, scale=1 if steps > 15 else 2)
    st.caption(f"Decoded grid: z1 from −{limit} to {limit} left to right, z2 from {limit} to −{limit} "
               "top to bottom (the dotted square on the plot).")


side_by_side(runs, render, max_cols=2)
