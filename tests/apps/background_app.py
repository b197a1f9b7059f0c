"""A tiny app for tests/test_background.py: one slow picture (with a preview) and one quick one, drawn
with :func:`dashboard.background.draw` for the seed in the number input.

The slow picture takes ``?delay=`` seconds (default 2) to make, its preview 0.3 s. Pictures are texts in
keyed containers (``.st-key-slow_<seed>``, ``.st-key-preview_<seed>``, ``.st-key-quick_<seed>``), so a test
can tell which seed each one was made for. With ``?nested=1`` the seed and both pictures are drawn inside a
fragment (as on a page whose slider lives in a fragment): a seed change reruns only that fragment.
"""

from __future__ import annotations

import time

import streamlit as st

from dashboard import background

delay = float(st.query_params.get("delay", "2"))


def pictures() -> None:
    seed = int(st.number_input("Seed", 0, 1000, 0, key="seed"))

    def text(kind: str):
        def render(value: str) -> None:
            with st.container(key=f"{kind}_{seed}"):
                st.text(value)
        return render

    def slow() -> str:
        time.sleep(delay)
        return f"slow picture {seed}"

    def first_look() -> str:
        time.sleep(0.3)
        return f"preview {seed}"

    background.draw("slow", ("test slow", seed, delay), slow, text("slow"), "Making the slow picture",
                    preview=background.Preview(("test preview", seed, delay), first_look, text("preview")))
    background.draw("quick", ("test quick", seed), lambda: f"quick picture {seed}", text("quick"),
                    "Making the quick picture")


if st.query_params.get("nested"):
    st.fragment(pictures)()
else:
    pictures()
