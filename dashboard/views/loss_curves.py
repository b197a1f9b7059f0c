"""Loss curves: training and validation per epoch, components selectable, runs overlaid.

Each panel holds one component in one unit (the models declare their units), so a GAN's losses
never share an axis with the VAEs' nats per image. Needs the runs' history files only.

Runs trained with snapshots add a *Replay* section (:mod:`dashboard.replay`): an epoch slider with a Play
button that marks the chosen epoch on the loss curves, and the judge's accuracy and FID of every epoch's
samples from the snapshots. Without such runs the page is as before, with one line saying so.
"""

import pandas as pd
import plotly.express as px
import streamlit as st

from core.explore.replay import metrics_table
from dashboard.common import chosen_names, html_text, plain, runs_and_errors
from dashboard.replay import all_epochs, judge_words, mark_epoch, replay_fragment, replay_runs, show_notes, shown_epoch

st.title("Loss curves")
all_runs, _ = runs_and_errors()
runs = [all_runs[name] for name in chosen_names() if name in all_runs]
if not runs:
    st.info("Pick at least one run in the sidebar (**Runs to compare**).")
    st.stop()

frames = []
for run in runs:
    history = run.history
    if not history.get("epoch"):
        st.caption(f"**{plain(run.label)}** has no training history.")
        continue
    units = run.card.get("loss_units", {})
    for key, values in history.items():
        if "/" not in key:
            continue
        split, component = key.split("/", 1)
        unit = units.get(component.split("[")[0], "nats per image")
        frames.append(pd.DataFrame({"epoch": history["epoch"], "value": values, "split": split,
                                    "component": component, "unit": unit, "run": run.label}))
if not frames:
    st.info("None of the selected runs has a training history.")
    st.stop()
data = pd.concat(frames, ignore_index=True)
data["panel"] = data["component"] + " · " + data["unit"]

components = sorted(data["component"].unique(), key=lambda c: (c != "loss", c))
c1, c2, c3 = st.columns([3, 2, 1])
default = [c for c in components if any(c in run.card.get("plotted_losses", ["loss"]) for run in runs)] or components[:1]
chosen = c1.multiselect("Components", components, default=default, key="loss_components", select_all=False,
                        help="loss = total; bce = reconstruction (summed over 784 pixels); nll = digit "
                             "negative log-likelihood; kl = KL divergence (VAEs); d_loss, g_loss = the GAN's "
                             "discriminator and generator losses; loss[mode] = validation total in one input mode.")
splits = c2.multiselect("Splits", ["train", "val"], default=["train", "val"], key="loss_splits")
log_y = c3.toggle("Log scale", value=False, key="loss_log")
shown = data[data["component"].isin(chosen) & data["split"].isin(splits)]
if shown.empty:
    st.info("Pick at least one component and one split.")
    st.stop()

# the chart's words escaped (Plotly draws tags such as <a href> in legends, hovers and titles); the table keeps them as they are
plotted = shown.assign(run=shown["run"].map(html_text), panel=shown["panel"].map(html_text))
panels = list(dict.fromkeys(plotted.sort_values(["component", "unit"])["panel"]))
fig = px.line(plotted, x="epoch", y="value", color="run", line_dash="split", facet_col="panel",
              facet_col_wrap=2, log_y=log_y, markers=False, category_orders={"panel": panels},
              labels={"epoch": "epoch"}, facet_col_spacing=0.08, facet_row_spacing=0.12)
fig.update_yaxes(matches=None, showticklabels=True, title_text="")
fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
fig.update_layout(height=380 * ((len(panels) + 1) // 2), legend_title_text="")


def loss_part(epoch: int | None = None) -> None:
    """The loss chart (a dotted line at ``epoch`` when given), its caption and the final values' table."""
    st.plotly_chart(fig if epoch is None else mark_epoch(fig, epoch), width="stretch", key="loss_chart")
    st.caption("Each panel's title gives the component and its unit. Training values are means over each epoch's "
               "batches (seed 000's models see one randomly chosen input mode per batch); validation values are "
               "computed on the 12,000 validation images after each epoch (for seed 000's models, averaged over "
               "their three input modes).")

    final = shown.sort_values("epoch").groupby(["run", "split", "panel"], as_index=False).last()
    table = final.pivot_table(index="run", columns=["split", "panel"], values="value")
    st.dataframe(table.map(lambda v: "" if pd.isna(v) else f"{v:.4g}"), width="stretch")
    st.caption("Final epoch's values; a blank cell: the run has no such component.")


replayed, notes = replay_runs(runs)
if not replayed:
    loss_part()
    show_notes(notes)
    st.stop()

#: the judge's metrics of every replayed run's snapshots, long form (epoch, value, metric, run)
JUDGE_PANELS = {"judge_accuracy": "judge accuracy", "judge_fid": "judge FID (lower is better)"}
judged = pd.DataFrame([{"epoch": epoch, "value": value, "metric": panel, "run": html_text(run.label)}
                       for run, frames in replayed for key, panel in JUDGE_PANELS.items()
                       for epoch, value in zip(frames.epochs, metrics_table(frames)[key]) if value is not None])
judge_fig = None
if not judged.empty:
    judge_fig = px.line(judged, x="epoch", y="value", color="run", facet_col="metric", markers=True,
                        category_orders={"metric": list(JUDGE_PANELS.values())}, facet_col_spacing=0.08)
    judge_fig.update_yaxes(matches=None, showticklabels=True, title_text="")
    judge_fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    judge_fig.update_layout(height=320, legend_title_text="")


def judge_part(epoch: int) -> None:
    """The judge's metrics per epoch, marked at ``epoch``, and the chosen epoch's figures in words."""
    if judge_fig is None:
        st.caption("These snapshots carry no judge metrics (no judge run was there when they were trained).")
        return
    st.plotly_chart(mark_epoch(judge_fig, epoch), width="stretch", key="loss_judge_chart")
    lines = []
    for run, frames in replayed:
        index, words = shown_epoch(frames, epoch)
        judged_here = judge_words(frames, index)
        if judged_here is not None:
            lines.append(f"**{plain(run.label)}** at {plain(words)}: {judged_here}")
    if lines:
        st.caption("  \n".join(lines))
    st.caption("From the runs' snapshots: after every epoch (0 = the untrained model) the run generated samples "
               "of every digit from fixed noise; the judge's accuracy is the share it reads as the digit asked "
               "for, its FID the Fréchet distance between their judge features and the test images' (lower is "
               "closer). Few samples per epoch: compare epochs, not these FIDs with the leaderboard's.")


def above(epoch: int) -> None:
    loss_part(epoch)
    st.subheader("Replay")
    show_notes(notes)


replay_fragment("loss_replay", all_epochs(replayed), judge_part, above=above)
