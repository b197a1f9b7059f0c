"""Loss curves: training and validation per epoch, components selectable, runs overlaid."""

import pandas as pd
import plotly.express as px
import streamlit as st

from common import selected_runs

st.title("Loss curves")
runs = selected_runs()

frames = []
for run in runs:
    history = run.history
    if not history.get("epoch"):
        st.caption(f"**{run.label}** has no training history.")
        continue
    for key, values in history.items():
        if "/" not in key:
            continue
        split, component = key.split("/", 1)
        frames.append(pd.DataFrame({"epoch": history["epoch"], "value": values, "split": split,
                                    "component": component, "run": run.label}))
if not frames:
    st.info("None of the selected runs has a training history.")
    st.stop()
data = pd.concat(frames, ignore_index=True)

components = sorted(data["component"].unique(), key=lambda c: (c != "loss", c))
c1, c2, c3 = st.columns([3, 2, 1])
default = [c for c in components if any(c in run.model.plotted_losses for run in runs)] or components[:1]
chosen = c1.multiselect("Components", components, default=default, key="loss_components",
                        help="loss = total; bce = reconstruction (summed over 784 pixels); nll = digit "
                             "negative log-likelihood; kl = KL divergence (CVAE); loss[mode] = validation "
                             "total in one input mode.")
splits = c2.multiselect("Splits", ["train", "val"], default=["train", "val"], key="loss_splits")
log_y = c3.toggle("Log scale", value=False, key="loss_log")
shown = data[data["component"].isin(chosen) & data["split"].isin(splits)]
if shown.empty:
    st.info("Pick at least one component and one split.")
    st.stop()

fig = px.line(shown, x="epoch", y="value", color="run", line_dash="split", facet_col="component",
              facet_col_wrap=2, log_y=log_y, markers=False,
              labels={"value": "nats per image", "epoch": "epoch"})
fig.update_yaxes(matches=None, showticklabels=True)
fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
fig.update_layout(height=420 * ((len(chosen) + 1) // 2), legend_title_text="")
st.plotly_chart(fig, width="stretch", key="loss_chart")
st.caption("Training values are means over each epoch's batches (seed 000's models see one randomly chosen "
           "input mode per batch); validation values are computed on the 12,000 validation images after each "
           "epoch (for seed 000's models, averaged over their three input modes).")

final = shown.sort_values("epoch").groupby(["run", "split", "component"], as_index=False).last()
st.dataframe(final.pivot_table(index="run", columns=["split", "component"], values="value").round(2),
             width="stretch")
