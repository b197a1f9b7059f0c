"""Noise robustness (seed 002, Fig. 10): accuracy and reconstruction error against noise level, one
line per run, from the shipped table ``checkpoints/noise_robustness.csv`` (scripts/noise_study.py)."""


import numpy as np
import streamlit as st

from core.data.corruptions import NOISE_KINDS, level_seed
from core.paths import checkpoint_root
from core.runs.catalog import is_judge
from dashboard.common import all_runs, chosen_names, html_text, images_html, plain, test_set

TABLE = "noise_robustness.csv"
COMMAND = "python scripts/noise_study.py"

st.title("Noise robustness")
st.markdown(
    "Seed 002 (Podoliak et al., Fig. 10) adds noise to the input image *to test the stability of the "
    "autoencoder to distortions*. Here every run that can classify or reconstruct reads the 10,000 test "
    "images corrupted by three kinds of noise at seven levels each (the same noisy images for every "
    "model, fixed seeds): **accuracy** is the argmax of its digit head on the noisy image; "
    "**reconstruction error** is the BCE of its reconstruction of the noisy image against the *clean* "
    "image (nats per image, summed over 784 pixels; the digit is given to models that take it). Try it "
    "on single images on the **Reconstructions** and **Draw a digit** pages.")


@st.cache_data(show_spinner=False)
def read_table(path: str, mtime: float):
    import pandas as pd

    return pd.read_csv(path)


path = checkpoint_root() / TABLE
if not path.exists():
    st.info(f"No noise study has been run here yet: `{COMMAND}` writes `checkpoints/{TABLE}` (about 15 minutes "
            "on 2 CPU cores).")
    st.stop()
try:
    table = read_table(str(path), path.stat().st_mtime)
    readable = {"run", "kind", "level", "accuracy", "bce", "n"} <= set(table.columns)
except Exception:  # noqa: BLE001 - any unreadable file gets the same sentence
    readable = False
if not readable:
    st.error(f"`checkpoints/{TABLE}` cannot be read as the noise study's table. Run `{COMMAND}` to write it again.")
    st.stop()

runs, _ = all_runs()
labels = {name: run.label for name, run in runs.items()}
judges = [name for name, run in runs.items() if is_judge(run)]
everyone = st.toggle("Every run in the table", value=False, key="noise_all",
                     help="Off: the runs chosen in the sidebar and the judge.")
shown = sorted(set(table["run"])) if everyone else [n for n in chosen_names() + judges if n in set(table["run"])]
missing = [n for n in chosen_names() if n not in set(table["run"])]
if missing:
    st.caption("Not in the table (they can neither classify nor reconstruct, or were not studied): "
               + ", ".join(plain(labels.get(n, n)) for n in missing))
if not shown:
    st.info("None of the chosen runs is in the noise study's table; switch on **Every run in the table**.")
    st.stop()
data = table[table["run"].isin(shown)].assign(label=lambda d: d["run"].map(lambda n: labels.get(n, n)))
data["chart_label"] = data["label"].map(html_text)  # Plotly draws tags such as <a href> in legends and hovers


@st.cache_resource(show_spinner=False)
def examples(kind_name: str) -> np.ndarray:
    """One test image (index 0, a 7) at each level of the kind, with the study's seeds."""
    kind = next(k for k in NOISE_KINDS if k.name == kind_name)
    x = test_set()[0][:1]
    return np.concatenate([kind(x, level, level_seed(kind, i)).numpy() for i, level in enumerate(kind.levels)])


def chart(frame, column: str, title: str, unit: str, kind):
    import plotly.express as px

    fig = px.line(frame, x="level", y=column, color="chart_label", markers=True,
                  labels={"level": kind.level_name, column: unit, "chart_label": "run"})
    fig.update_layout(title=title, height=330, margin=dict(l=10, r=10, t=40, b=10), legend_title_text="")
    return fig


for kind in NOISE_KINDS:
    st.subheader(kind.label)
    part = data[data["kind"] == kind.name]
    st.markdown(f"{html_text(kind.description)}; levels " + ", ".join(f"{v:g}" for v in kind.levels)
                + ":<br>" + images_html(examples(kind.name), nrow=len(kind.levels), scale=2,
                                        title=f"a test 7 at each level of {kind.label}"),
                unsafe_allow_html=True)
    if part.empty:
        st.caption(f"No rows for this kind in the table: run `{COMMAND} --kinds {kind.name}`.")
        continue
    left, right = st.columns(2)
    accuracy = part.dropna(subset=["accuracy"])
    if not accuracy.empty:
        left.plotly_chart(chart(accuracy, "accuracy", "Test accuracy", "accuracy", kind), width="stretch",
                          key=f"noise_acc_{kind.name}")
    bce = part.dropna(subset=["bce"])
    if not bce.empty:
        right.plotly_chart(chart(bce, "bce", "Reconstruction error vs the clean image", "BCE (nats per image)", kind),
                           width="stretch", key=f"noise_bce_{kind.name}")

with st.expander("The numbers"):
    st.dataframe(data[["label", "kind", "level", "accuracy", "bce", "input", "n", "noise_seed"]]
                 .rename(columns={"label": "run", "bce": "BCE (nats/image)"}), hide_index=True, width="stretch")
    when = str(table["evaluated_at"].max()) if "evaluated_at" in table else "?"
    st.caption(f"Computed by `{COMMAND}` (last row {plain(when)}); {int(table['n'].max()):,} test images per point.")
