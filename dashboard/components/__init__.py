"""Digit Lab's own Streamlit components (custom components v2: no iframe, no build step).

Each component is a module with its markup inline and its style and script in a ``.css`` and a
``.js`` file of the same name beside it (package data, see pyproject.toml), read once at import:
the v2 API takes files by path only from an installed package that declares an asset folder in its
manifest, and the dashboard also runs from a plain checkout (``streamlit run dashboard/app.py``).

- :func:`components.sketchpad.sketchpad`: a freehand drawing canvas that sends the drawing while the pen
  is down.
- :func:`components.latent_scatter.latent_scatter`: a canvas scatter plot of up to tens of thousands of
  points with digit colours, image tooltips, box selection and a probe crosshair.

Both send their values with ``setStateValue``: mounted inside an ``@st.fragment``, a gesture reruns only
that fragment.
"""
