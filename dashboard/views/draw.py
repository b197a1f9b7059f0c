"""Draw a digit: MNIST-style preprocessing, live classification and reconstruction by every run."""

import plotly.graph_objects as go
import streamlit as st
import torch
from streamlit_drawable_canvas import st_canvas  # only importable inside a running app

from common import judge_run, selected_runs, show_images, side_by_side, skip_note
from core import explore
from core.models.base import CLASSIFY, IMAGE_ONLY, RECONSTRUCT, RESTYLE
from core.preprocess import EmptyDrawing, image_from_bytes, mnist_preprocess

st.title("Draw a digit")
runs = selected_runs()
st.session_state.setdefault("canvas_round", 0)

left, right = st.columns([3, 2])
with left:
    source = st.radio("Input", ["Draw", "Upload an image"], horizontal=True, key="draw_source")
    raw = None
    if source == "Draw":
        stroke = st.slider("Brush width", 8, 40, 20, key="draw_brush")
        canvas = st_canvas(stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000",
                           height=280, width=280, drawing_mode="freedraw", return_image_data=True,
                           key=f"canvas_{st.session_state.canvas_round}")
        if st.button("Clear canvas", key="draw_clear"):
            st.session_state.canvas_round += 1  # a new key gives a fresh canvas
            st.rerun()
        raw = canvas.image_data if canvas is not None else None
    else:
        upload = st.file_uploader("A picture of one digit (PNG, JPEG, BMP)", type=["png", "jpg", "jpeg", "bmp"],
                                  key="draw_upload")
        invert = st.checkbox("Dark digit on a light background (invert)", value=True, key="draw_invert")
        if upload is not None:
            try:
                raw = image_from_bytes(upload.getvalue(), invert=invert)
            except ValueError as exc:
                st.error(f"Could not use {upload.name!r}: {exc}. Try a PNG or JPEG picture of one digit.")

x = None
with right:
    st.markdown("**What the models see** (28×28, MNIST preprocessing)")
    if raw is not None:
        try:
            x = torch.from_numpy(mnist_preprocess(raw)).reshape(1, 1, 28, 28)
        except EmptyDrawing:
            x = None
        except ValueError as exc:
            st.error(f"Unusable image: {exc}")
    if x is None:
        st.info("Draw a digit on the canvas (or upload one) to see it classified.")
    else:
        show_images(x, nrow=1, scale=6)
        st.caption("Bounding box scaled to fit 20×20 (aspect ratio kept), then centred by centre of mass "
                   "in 28×28, as MNIST was made.")

if x is None:
    st.stop()

st.subheader("Predictions")
predicted: dict[str, int] = {}  # run name -> predicted digit, reused by the restyle section


def render(run):
    if not run.model.can(CLASSIFY):
        skip_note(run, "classify")
        return
    probs = explore.class_probabilities(run.model, x)
    pred = predicted[run.name] = int(probs.argmax())
    st.metric(run.label, str(pred))
    st.caption(f"p({pred}) = {probs[pred]:.3f}")
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=probs, marker_color=[
        "#e4572e" if d == pred else "#8aa1b1" for d in range(10)]))
    fig.update_layout(height=190, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(range=[0, 1], title="p(digit)"),
                      xaxis=dict(type="category", title="digit"))
    st.plotly_chart(fig, width="stretch", key=f"probs_{run.name}")
    if run.model.can(RECONSTRUCT) and IMAGE_ONLY in run.model.input_modes:
        show_images(explore.reconstruct(run.model, x, None), nrow=1, scale=4, caption="Reconstruction (image only)")


judge = judge_run()
side_by_side(runs + ([judge] if judge else []), render, max_cols=4)
if judge:
    st.caption(f"**{judge.label}** is the independent judge classifier "
               f"({100 * judge.metrics['classification_accuracy']['value']:.2f} % on the MNIST test set), "
               "not one of the compared models.")

restylers = [run for run in runs if run.model.can(RESTYLE)]
if restylers:
    st.subheader("Your handwriting as every digit")
    st.caption("Models whose decoder takes the digit as a label keep your drawing's style (its latent code, "
               "read with the digit the judge — or else the model itself — sees) and redraw it as 0–9.")

    def render_restyle(run):
        digit = predicted[(judge or run).name]
        with torch.no_grad():
            out = run.model.restyle(x.to(run.model.device), torch.tensor([digit], device=run.model.device),
                                    torch.arange(10, device=run.model.device))
        st.markdown(f"**{run.label}** (read as a {digit})")
        show_images(out[0].cpu(), nrow=10, scale=2)

    side_by_side(restylers, render_restyle, max_cols=2)
