"""Train: pick a model and its settings, start a training and watch it learn, live.

The training runs in a worker process (:class:`core.training.jobs.TrainingManager`; the page never
trains on its own thread), so every other page stays as fast as before. While it runs, a fragment
refreshes itself every second without rerunning the page: the loss curves, the 10×10 grid from fixed
noise, the latent scatter of 2,000 fixed test images and the judge's accuracy and FID of 1,000 samples,
all read from the files the worker writes after every epoch. A reload or a second tab finds the
training where it is. A finished training is a normal run folder: it joins the run picker (for this
browser only) and every view.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard.common import (
    BROWSER_KEY,
    add_runs,
    browser,
    images_html,
    plain,
    share_link,
    training_manager,
)

st.title("Train a model")
st.caption("Train any model of the zoo on MNIST here and watch it learn: the losses, its samples and its latent space "
           "after every epoch. The training runs beside the dashboard, so every other page stays as fast as before.")

owner = browser()
if owner is None:  # the first run of a first visit: the browser has not said its id yet
    from dashboard.components.browser_store import browser_id

    owner = browser_id()
    if owner is None:
        st.info("Getting this browser ready for training…")
        st.stop()
    st.session_state[BROWSER_KEY] = owner

manager = training_manager()

from core.models import REGISTRY, model_class  # noqa: E402 - after the page's first words
from core.models.capabilities import MODEL  # noqa: E402
from core.training.jobs import (  # noqa: E402
    FAILED,
    FINISHED,
    MAX_EPOCHS,
    MAX_TRAIN,
    MIN_TRAIN,
    QUEUED,
    RUNNING,
    STARTING,
    STOPPED,
    TrainingRefused,
    TrainRequest,
    model_arguments,
    training_defaults,
)
from core.training.sharing import share, share_token, unshare  # noqa: E402

ACTIVE = (QUEUED, STARTING, RUNNING)
STATE_WORDS = {QUEUED: "waiting for a free place", STARTING: "starting", RUNNING: "training",
               STOPPED: "stopped", FAILED: "failed", FINISHED: "finished"}
models = [name for name in sorted(REGISTRY) if model_class(name).role == MODEL]


def model_label(name: str) -> str:
    cls = model_class(name)
    return f"{cls.display_name} ({name})"


jobs = manager.jobs(owner)
active = next((job for job in jobs if job.state in ACTIVE), None)

st.subheader("A new training")
c1, c2 = st.columns([2, 3])
model = c1.selectbox("Model", models, format_func=model_label, key="train_model",
                     help="Every registered model; its arguments and settings start at its source's values.")
c2.caption(plain(model_class(model).summary))
with st.form(f"train_form_{model}", border=True):
    arguments = model_arguments(model)
    defaults = training_defaults(model)
    values = {}
    columns = st.columns(max(1, len(arguments)))
    for column, (name, default) in zip(columns, arguments.items()):
        values[name] = column.number_input(name.replace("_", " "), value=default, key=f"train_arg_{model}_{name}",
                                           step=1 if isinstance(default, int) else None,
                                           format=None if isinstance(default, int) else "%g")
    s1, s2, s3, s4 = st.columns(4)
    epochs = s1.number_input("Epochs", 1, MAX_EPOCHS, int(defaults["epochs"]), key=f"train_epochs_{model}")
    lr = s2.number_input("Learning rate", value=float(defaults["lr"]), format="%g", key=f"train_lr_{model}")
    n_train = s3.number_input("Training images", MIN_TRAIN, MAX_TRAIN, MAX_TRAIN, step=1000, key="train_n",
                              help="The first N of the 48,000 training images (fewer: faster epochs).")
    seed = s4.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
    started = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:",
                                    disabled=active is not None)
    if active is not None:
        st.caption(f"This browser is training **{plain(active.name)}**: one training per browser at a time.")

if started:
    request = TrainRequest(model, {k: v for k, v in values.items()}, int(epochs), float(lr),
                           int(defaults["batch_size"]), int(n_train), int(seed))
    try:
        manager.submit(owner, request)
    except TrainingRefused as exc:
        st.error(str(exc), icon=":material/block:")
    else:
        manager.tick()  # start it now rather than at the loop's next turn
        st.rerun()


def live_panel(job) -> None:
    """What a training shows: its state, the losses, and its latest snapshot."""
    from core.runs.format import CheckpointError
    from core.runs.snapshots import snapshot_epochs
    from dashboard.replay import folder_frames, folder_positions, scatter_figure

    words = STATE_WORDS[job.state]
    head = f"**{plain(job.name)}** · {words}"
    if job.state == QUEUED and job.place:
        head += f" · place {job.place} in the queue"
    if job.epochs:
        head += f" · epoch {job.epoch} of {job.epochs}"
    st.markdown(head)
    if job.epochs:
        st.progress(min(1.0, job.epoch / job.epochs))
    if job.message:
        (st.error if job.state == FAILED else st.info)(plain(job.message))
    b1, b2, b3, b4, _ = st.columns([1, 1, 1, 1, 2])
    if job.state in ACTIVE and b1.button("Stop", key=f"stop_{job.name}", icon=":material/stop:"):
        manager.stop(owner, job.name)
        st.rerun()
    if job.state in (STOPPED, FAILED) and b1.button("Resume", key=f"resume_{job.name}", icon=":material/play_arrow:"):
        try:
            manager.resume(owner, job.name)
            manager.tick()
        except TrainingRefused as exc:
            st.error(str(exc))
        st.rerun()
    if job.state == FINISHED and b2.button("Compare it", key=f"add_{job.name}", icon=":material/add:",
                                           help="Add it to the runs compared on every page."):
        add_runs([job.name])
        st.rerun()
    if b3.button("Delete", key=f"delete_{job.name}", icon=":material/delete:"):
        manager.delete(owner, job.name)
        st.rerun()
    if job.state == FINISHED:
        share_panel(job.name, b4)

    history = job.history
    left, middle, right = st.columns([3, 2, 3])
    with left:
        keys = [k for k in ("train/loss", "val/loss") if history.get(k)]
        if keys:
            frame = pd.concat([pd.DataFrame({"epoch": history["epoch"][:len(history[k])], "loss": history[k],
                                             "split": k.split("/")[0]}) for k in keys])
            fig = px.line(frame, x="epoch", y="loss", color="split", markers=True, height=300)
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend_title_text="",
                              title_text="loss per epoch")
            st.plotly_chart(fig, width="stretch", key=f"live_loss_{job.name}")
        else:
            st.caption("The losses appear after the first epoch.")
    if not snapshot_epochs(job.folder):
        middle.caption("The first snapshot (the untrained model) appears in a moment.")
        return
    try:
        frames = folder_frames(job.folder)
    except CheckpointError:
        middle.caption("The latest snapshot is being written.")
        return
    last, snapshot = frames.epochs[-1], -1
    with middle:
        grid = frames.grids[snapshot]
        if grid is not None:
            st.html(images_html(grid.astype(np.float32)[:, None] / 255.0, nrow=10, scale=2,
                                title=f"samples after epoch {last}"))
            st.caption(f"After epoch {last} ({plain(frames.metrics[snapshot].get('grid_mode', ''))}): row r is "
                       "digit r, from the same noise every epoch.")
        m = frames.metrics[snapshot]
        if isinstance(m.get("judge_accuracy"), (int, float)):
            a, b = st.columns(2)
            a.metric("Judge accuracy", f"{100 * m['judge_accuracy']:.1f} %",
                     help=f"The share of {m.get('fid_samples', 0):,} samples the judge reads as the digit asked for.")
            b.metric("Judge FID", f"{m['judge_fid']:.2f}", help="Fréchet distance between the samples' and the test "
                     "images' judge features (lower is closer); few samples, so compare epochs.")
    with right:
        if not frames.has_codes:
            st.caption("This model has no encoder: no latent scatter.")
            return
        try:
            xy, ranges = folder_positions(job.folder)
        except ValueError:  # codes that are not finite
            st.caption("Its latent codes are no longer all finite numbers: the training has diverged.")
            return
        st.caption(f"Latent codes of 2,000 test images after epoch {last}: each epoch's PCA turned to the one "
                   "before, so the points move instead of jumping.")
        st.plotly_chart(scatter_figure(xy[snapshot], frames.labels, ranges, height=300), width="stretch",
                        key=f"live_scatter_{job.name}")


def share_panel(name: str, column) -> None:
    """Share a finished run by link (:mod:`core.training.sharing`), or show its link and stop sharing it."""
    token = share_token(manager.root, owner, name)
    if token is None:
        if column.button("Share", key=f"share_{name}", icon=":material/share:",
                         help="Make a link that shows this run, read-only, to whoever opens it."):
            share(manager.root, owner, name)
            st.rerun()
        return
    if column.button("Stop sharing", key=f"unshare_{name}", icon=":material/link_off:",
                     help="The link stops working; the run stays yours."):
        unshare(manager.root, owner, name)
        st.rerun()
    st.caption("Shared: whoever opens this link sees this run in every view, read-only.")
    st.code(share_link(token, name), language=None)


def current() -> None:
    """The newest training of this browser, refreshed every second while it is active."""
    found = manager.jobs(owner)
    if not found:
        st.caption("No training from this browser yet.")
        return
    job = found[0]
    live_panel(job)
    if job.state not in ACTIVE and st.session_state.get("train_was_active"):
        st.session_state["train_was_active"] = False
        st.rerun()  # the whole page: the run picker lists the finished run, the form unlocks
    st.session_state["train_was_active"] = job.state in ACTIVE


st.subheader("Now")
refresh = 1.0 if active is not None else None
st.fragment(run_every=refresh)(current)()

older = jobs[1:] if jobs else []
if older:
    st.subheader("Earlier trainings")
    for job in older:
        with st.expander(f"{job.name} · {STATE_WORDS[job.state]} · epoch {job.epoch} of {job.epochs}"):
            live_panel(job)
limits = manager.limits
st.caption(f"This server trains {limits.max_running} model{'s' if limits.max_running > 1 else ''} at a time (others "
           f"wait in a queue), stops a training after {limits.max_seconds / 60:g} minutes (Resume continues it) and "
           f"keeps at most {limits.max_disk_mb:g} MB of trained runs (the oldest are removed first). Your runs are "
           "visible to this browser only, unless you share one by link.")
