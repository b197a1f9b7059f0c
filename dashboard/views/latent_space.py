"""Latent space: test-set latent codes projected to 2-D (PCA or UMAP), coloured by digit.

Each run's scatter is drawn on a canvas (fast for 10,000 points): hover a point to see its image,
drag a box to list the images inside it. The digit drawn on the Draw page is marked in every run
that can encode it. UMAP projections of the default settings are shipped in the run folders
(``scripts/project.py``); other settings are computed live behind a progress bar.
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import streamlit as st

from core.explore.projections import (
    UMAP_FIRST_USE_SECONDS,
    UMAP_SECONDS,
    place_codes,
    project,
    read_shipped,
    shipped_key,
)
from core.models.capabilities import ENCODE, IMAGE_AND_DIGIT, IMAGE_ONLY
from dashboard.common import (
    drawn_code,
    drawn_digit,
    html_text,
    images_html,
    input_mode_for,
    plain,
    seeded_indices,
    selected_runs,
    side_by_side,
    skip_note,
    test_labels,
    test_set,
    thumbnails,
    usable,
)
from dashboard.components.latent_scatter import latent_scatter

st.title("Latent space")
# the runs' cards are enough for the shipped views: a model (and torch) is loaded only when codes are needed
runs = selected_runs(load=False)
test_y = test_labels()

c1, c2, c3 = st.columns([1, 2, 2])
method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="lat_method")
n_points = c2.select_slider("Test images", [1000, 2000, 5000, 10000], value=2000, key="lat_n",
                            help="A fixed random subset of the test set (seed 0). UMAP of 2,000 and 5,000 "
                                 "codes is shipped with each run; other sizes are computed here.")
mode = c3.radio("Encoder input", [IMAGE_AND_DIGIT, IMAGE_ONLY], horizontal=True, key="lat_mode",
                format_func={IMAGE_AND_DIGIT: "image + digit", IMAGE_ONLY: "image only"}.get)
indices = seeded_indices(len(test_y), n_points, 0)
drawn = drawn_digit()
st.caption("Hover a point to see its image; drag a box over points to list them (double-click clears)."
           + (" ★ marks the digit you drew on the Draw page (encoded from the image alone, or with the digit "
              "the judge reads)." if drawn is not None else " Draw a digit on the Draw page to see where it lands."))


@st.cache_resource(max_entries=64, show_spinner=False)
def codes_of(run_name: str, mode: str, n: int) -> np.ndarray:
    """Codes (n, d) of the fixed test subset, shared by every session."""
    import torch

    from core.explore import latents as explore

    run = next(r for r in runs if r.name == run_name)
    test_x, test_y = test_set()
    idx = torch.as_tensor(seeded_indices(len(test_x), n, 0))
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], mode)


@st.cache_resource(max_entries=64, show_spinner=False)
def _live_umap(run_name: str, mode: str, n: int) -> np.ndarray:
    return project(codes_of(run_name, mode, n), method="UMAP", seed=0)


def projection(run, mode: str) -> tuple[np.ndarray, str] | None:
    """2-D positions (n, 2) of the subset's codes and where they came from; None when the run's
    model is needed and cannot be loaded (the page has said so)."""
    direct = run.latent_dim <= 2
    shipped = read_shipped(run.path, shipped_key("CODES" if direct else method, mode, n_points))
    if shipped is not None:
        return shipped, "the codes themselves" if direct else f"{method} shipped with the run"
    if not usable(run):
        return None
    codes = codes_of(run.name, mode, n_points)
    if direct:
        return (codes if codes.shape[1] == 2 else np.c_[codes, np.zeros_like(codes)]), "the codes themselves"
    if method == "PCA":
        return project(codes, method="PCA", use_cache=False), "PCA of these codes"
    estimate = UMAP_SECONDS[0] + UMAP_SECONDS[1] * n_points + (UMAP_FIRST_USE_SECONDS if "umap" not in sys.modules else 0)
    bar = st.progress(0.0, text=f"UMAP of {n_points:,} codes: about {estimate:.0f} s on this machine…")
    start = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(_live_umap, run.name, mode, n_points)
        while not future.done():
            elapsed = time.perf_counter() - start
            bar.progress(min(0.95, elapsed / estimate),
                         text=f"UMAP of {n_points:,} codes: {elapsed:.0f} s of about {estimate:.0f} s…")
            time.sleep(0.25)
        xy = future.result()
    bar.empty()
    return xy, "UMAP computed here (cached for this server)"


def marker_for(run, mode: str, xy: np.ndarray):
    """Where the drawn digit lands in this run's view, or None."""
    if drawn is None or not usable(run):
        return None
    code = drawn_code(run, mode)
    if code is None:
        return None
    if run.latent_dim <= 2:
        return float(code[0]), float(code[1]) if len(code) == 2 else 0.0
    codes = codes_of(run.name, mode, n_points)
    if method == "PCA":
        from sklearn.decomposition import PCA

        point = PCA(n_components=2).fit(codes).transform(code[None])[0]
    else:
        point = place_codes(codes, xy, code[None])[0]
    return float(point[0]), float(point[1])


def render(run):
    st.markdown(f"**{plain(run.label)}**")
    if not run.can(ENCODE) or not run.input_modes:
        skip_note(run, "encode images")
        return
    run_mode = input_mode_for(run, mode)
    shown = projection(run, run_mode)
    if shown is not None:
        fragment_view(run, run_mode, *shown, run.latent_dim <= 2)


@st.fragment
def fragment_view(run, run_mode: str, xy: np.ndarray, source: str, direct: bool) -> None:
    """The scatter and its selection: a box drawn on it reruns only this part."""
    labels = test_y[indices]
    event = latent_scatter(xy, labels, key=f"lat_{run.name}_{method}_{run_mode}_{n_points}",
                           thumbnails=thumbnails(n_points), marker=marker_for(run, run_mode, xy),
                           marker_label="your digit", drag="select", ids=indices,
                           axis_labels=("z1", "z2") if direct else (f"{method} 1", f"{method} 2"))
    st.caption(f"{len(xy):,} test codes ({source}).")
    picked = [int(indices[i]) for i in (event or {}).get("selection", [])]
    if picked:
        shown = picked[:40]
        st.markdown(f"Selected {len(picked)} of {len(xy):,} points"
                    + (f" (the first {len(shown)} shown)" if len(picked) > len(shown) else "") + ":<br>"
                    + images_html(test_images(shown), nrow=20, scale=2, title="selected test images"),
                    unsafe_allow_html=True)
        st.caption("Test indices (digit): " + html_text(", ".join(f"#{i} ({int(test_y[i])})" for i in shown)))


def test_images(indices: list[int]) -> np.ndarray:
    """Test images (n, 1, 28, 28) float32 in [0, 1]."""
    from core.data.mnist import shared_mnist_arrays

    return shared_mnist_arrays(train=False)[0][indices][:, None].astype(np.float32) / 255.0


side_by_side(runs, render, max_cols=2)
