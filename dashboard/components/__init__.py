"""Digit Lab's own Streamlit components (custom components v2: inline HTML/CSS/JS, no iframe, no build).

- :func:`components.sketchpad.sketchpad`: a freehand drawing canvas that sends the drawing while the pen
  is down.
- :func:`components.latent_scatter.latent_scatter`: a canvas scatter plot of up to tens of thousands of
  points with digit colours, image tooltips, box selection and a probe crosshair.

Both send their values with ``setStateValue``: mounted inside an ``@st.fragment``, a gesture reruns only
that fragment.
"""
