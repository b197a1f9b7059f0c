"""10×10 generation grids: row = digit 0–9, column = sample; reproducible with a seed.

Each run generates in a mode of its own, chosen above its grid (its default first). Grids that were
slow to make last time are made off the script thread (:mod:`dashboard.background`) and drawn beside
the others when ready, a cheap preview first where the mode has one (the diffusion model's fewer DDIM
steps), so a slow model never holds the fast ones and a new seed never waits for a stale grid.
Runs trained with snapshots add a *Replay* section (:mod:`dashboard.replay`): the grid their model made
from fixed noise after any epoch, with the judge's metrics of that epoch.
"""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.evaluation.metrics import classifier_accuracy
from core.evaluation.specs import METRICS
from core.explore import latents as explore
from core.explore.replay import grid_picture
from core.models.capabilities import GENERATE, SAMPLE
from dashboard import background
from dashboard.common import images_html, judge_run, plain, results_table, selected_runs, side_by_side, skip_note, test_set, usable
from dashboard.replay import all_epochs, grid_html, judge_words, replay_fragment, replay_heading, shown_epoch

st.title("Generation grids")
runs = selected_runs(load=False)  # each run's weights are loaded in its own column: a slow load holds no other
c1, c2, _ = st.columns([1, 1, 2])
seed = int(c1.number_input("Seed", 0, 1_000_000, 0, key="gen_seed",
                           help="The same seed reproduces the same grid for a run."))
per_digit = int(c2.slider("Samples per digit", 1, 10, 10, key="gen_per_digit"))
judge = judge_run()
#: {run name: the generation mode chosen above its grid}, filled as the grids are laid out
chosen_modes: dict = {}
#: the runs whose weights loaded
loaded: list = []


def capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


def mode_picker(run):
    """A selector of the run's own generation modes (its default first); the chosen mode (a
    :class:`core.models.modes.GenerationMode`), or None, with one note, when the run does not generate."""
    modes = run.model.generation_modes if run.model.can(GENERATE) else ()
    if not modes:
        skip_note(run, "generate images of given digits")
        return None
    name = st.selectbox("Generation mode", [str(m) for m in modes], key=f"gen_mode_{run.name}",
                        format_func=capitalised, disabled=len(modes) == 1,
                        help="; ".join(f"**{capitalised(m)}**: {m.help()}" for m in modes)
                        + ". The first is the model's default.")
    return run.model.generation_mode(name)


def grid_job(run, mode) -> dict:
    """What :func:`dashboard.background.draw` needs to make the run's grid in ``mode`` (shared by the
    grid and the real-versus-generated rows: one computation)."""
    model, per, name = run.model, per_digit, str(mode)
    return dict(key=("generation grid", str(run.path), per, seed, name),
                compute=lambda: explore.generation_grid(model, per, seed, name),
                waiting=f"Generating {10 * per} images in mode {plain(name)}",
                cost=f"generation/{run.name}/{name}")


def preview_job(run, mode, render):
    """The cheap first look at the run's grid (the mode's preview, from the same seed), or None."""
    if mode.preview is None:
        return None
    model, per, name = run.model, per_digit, str(mode)
    return background.Preview(key=("generation grid preview", str(run.path), per, seed, name),
                              compute=lambda: explore.generation_grid(model, per, seed, name, preview=True),
                              render=render)


def picture(images, nrow: int, title: str) -> None:
    """Tiled images (N, 1, 28, 28) in [0, 1], inline, titled (the ``alt`` text: "<run label>: grid")."""
    st.markdown(images_html(images, nrow=nrow, scale=2, title=title), unsafe_allow_html=True)


def preview_note(run, mode) -> str:
    last = background.last_seconds(f"generation/{run.name}/{mode}")
    took = f" (the last one took {last:.0f} s)" if last is not None else ""
    return (f"**Preview** in mode {plain(mode.preview)}, from the same noise: the grid in mode "
            f"{plain(mode)} replaces it when it is ready{took}.")


@st.cache_data(max_entries=256, show_spinner=False)
def judged(run_path: str, per: int, seed: int, mode: str, _images: torch.Tensor) -> float:
    """The judge's accuracy on a run's grid ``_images`` (made from the other arguments)."""
    labels = torch.arange(10).repeat_interleave(per)
    return classifier_accuracy(judge.model, _images, labels)


def render(run):
    st.markdown(f"**{plain(run.label)}**")
    if not usable(run):
        return
    loaded.append(run)
    mode = mode_picker(run)
    if mode is None:
        return
    chosen_modes[run.name] = mode

    def final(images):
        picture(images, per_digit, f"{run.label}: grid")
        st.caption(f"Mode {mode}: {mode.help()}. Rows: digits 0 (top) to 9; columns: samples.")
        if judge:
            accuracy = judged(str(run.path), per_digit, seed, str(mode), images)
            st.caption(f"The judge reads {100 * accuracy:.0f} % of these {10 * per_digit} images as the digit they "
                       "were generated for.")

    def first_look(images):
        picture(images, per_digit, f"{run.label}: preview grid")
        st.caption(preview_note(run, mode))

    background.draw(f"generation/{run.name}", render=final, preview=preview_job(run, mode, first_look),
                    **grid_job(run, mode))


side_by_side(runs, render, max_cols=2)


def replay_section() -> None:
    """The Replay section: for the runs with snapshots, the 10×10 grid of the slider's epoch (fixed noise,
    so only the model changes) with its generation mode and judge metrics; one line otherwise."""
    replayed = replay_heading(runs, need="grids")
    if not replayed:
        return
    st.caption("The grid each run's model made after every epoch (0 = the untrained model), from the same noise "
               "every time: rows digits 0 (top) to 9, columns samples.")
    pictures = {run.name: [None] * len(frames.epochs) for run, frames in replayed}  # tiled once per session run

    def draw(epoch: int) -> None:
        def one(item) -> None:
            run, frames = item
            index, words = shown_epoch(frames, epoch)
            if pictures[run.name][index] is None:
                pictures[run.name][index] = grid_picture(frames.grids[index])
            st.markdown(f"**{plain(run.label)}** · {plain(words)}<br>"
                        + grid_html(pictures[run.name][index], f"{run.label}: grid at {words}"), unsafe_allow_html=True)
            mode = frames.metrics[index].get("grid_mode", "not recorded")
            judged_here = judge_words(frames, index)
            st.caption(f"{plain(capitalised(words))}, generation mode {plain(mode)}."
                       + ("" if judged_here is None else " " + capitalised(judged_here)))

        side_by_side(replayed, one, max_cols=2)

    replay_fragment("gen_replay", all_epochs(replayed), draw)


replay_section()

st.subheader("Real versus generated")
st.caption("As in seed 003's Fig. 3: a random real test image of each digit (upper row, drawn with the seed) "
           "above the first generated sample of the same digit (lower row), in each run's mode chosen above.")
test_x, test_y = test_set()
rng = np.random.default_rng(seed)
real = torch.stack([test_x[int(rng.choice(np.flatnonzero(test_y.numpy() == d)))] for d in range(10)])


def render_pairs(run):
    mode = chosen_modes[run.name]
    st.markdown(f"**{plain(run.label)}** · mode {plain(mode)}")

    def pairs(images, what: str = "real and generated"):  # the first sample of each digit
        picture(torch.cat([real, images[::per_digit]]), 10, f"{run.label}: {what}")

    def first_look(images):
        pairs(images, "real and generated, preview")
        st.caption(preview_note(run, mode))

    background.draw(f"generation-pairs/{run.name}", render=pairs, preview=preview_job(run, mode, first_look),
                    **grid_job(run, mode))


side_by_side([run for run in runs if run.name in chosen_modes], render_pairs, max_cols=2)

st.subheader("Score these generators now")
st.caption(
    "The judge's metrics of seed 000's protocol, computed on the spot for the chosen runs, each in the generation "
    "mode chosen above its grid (any mode, not only the one the leaderboard reports): **Generated Images Accuracy** "
    "(100 images per digit, judged), **FID on the judge's 128-d features** against the 10,000 test images, "
    "and the **Inception Score with the judge** (10 splits). Sets are drawn with the protocol's fixed seeds, so "
    "at 1,000 images per digit in a run's default mode the figures equal the shipped table's. FID falls as "
    "the set grows: compare figures at the same size only. The InceptionV3 FID is far too slow for this "
    "(about 7 images/s per CPU core): it is in Measure → Leaderboard.")
ONDEMAND_METRICS = ("generated_accuracy", "fid_judge", "is_judge")
s1, s2 = st.columns([2, 1])
score_per_digit = s1.select_slider("Images per digit for FID and IS", [100, 250, 500, 1000], value=250,
                                   key="score_per_digit",
                                   help="The shipped table uses 1,000 per digit (10,000 images).")


def mode_for(run) -> str | None:
    """The name of the mode a run is scored in: the one chosen above its grid; None for an unconditional
    sampler (no label, no modes: scored its own way)."""
    mode = chosen_modes.get(run.name)
    return None if mode is None else str(mode)


scorable = [run for run in loaded if run.name in chosen_modes or run.model.can(SAMPLE)]
request = (tuple((run.name, mode_for(run)) for run in scorable), int(score_per_digit))
if not judge:
    st.info("No judge classifier is shipped, so nothing can be scored (train one: "
            "`python scripts/train.py --model judge`).")
elif not scorable:
    st.info("None of the chosen runs generates images.")
elif s2.button("Score", key="score_button", type="primary"):
    st.session_state["score_request"] = request


@st.cache_resource(max_entries=4, show_spinner="Judging the test images…")
def scorer(per_digit: int):
    """An Evaluator of the judge's metrics at ``per_digit`` images per digit (test features cached)."""
    from core.evaluation.evaluator import Evaluator

    test_x, test_y = test_set()
    return Evaluator(test_x, test_y, judge.model, device=judge.model.device, fid_per_digit=per_digit,
                     log=lambda line: None, disk_cache=False)


@st.cache_data(max_entries=256, show_spinner=False)
def score(run_name: str, run_mode: str | None, per_digit: int) -> list[dict]:
    run = {r.name: r for r in runs}[run_name]
    return scorer(per_digit).evaluate(run.model, ONDEMAND_METRICS, mode=run_mode)


#: short column names of the on-demand table (the leaderboard's labels are too wide side by side)
SHORT = {"generated_accuracy": "Generated Images Accuracy", "fid_judge": "FID (judge)", "is_judge": "IS (judge)"}
if judge and st.session_state.get("score_request") == request:
    shipped, _, _ = results_table()
    lines = []
    bar = st.progress(0.0, text="Scoring…")
    for i, run in enumerate(scorable):
        bar.progress(i / len(scorable), text=f"Scoring {plain(run.label)}…")
        rows = {row["metric"]: row for row in score(run.name, mode_for(run), int(score_per_digit))}
        line = {"run": run.label, "mode": next(iter(rows.values()))["mode"]}
        for key in ONDEMAND_METRICS:
            line[SHORT[key]] = rows[key]["value"] if rows[key]["status"] == "ok" else None
            match = pd.DataFrame() if shipped is None else shipped[
                (shipped["run"] == run.name) & (shipped["metric"] == key) & (shipped["mode"] == line["mode"])
                & (shipped["status"] == "ok")]
            line[f"{SHORT[key]} · table"] = float(match["value"].iloc[0]) if len(match) else None
        line["seconds"] = round(sum(row["seconds"] for row in rows.values()), 1)
        lines.append(line)
    bar.empty()
    numbers = {}
    for key in ONDEMAND_METRICS:
        shown = "GIA" if key == "generated_accuracy" else SHORT[key]
        fmt = f"%.{METRICS[key].digits}f"
        numbers[SHORT[key]] = st.column_config.NumberColumn(shown, format=fmt, help=METRICS[key].label)
        numbers[f"{SHORT[key]} · table"] = st.column_config.NumberColumn(
            f"{shown.split(' ')[0]} · table", format=fmt, help=f"{METRICS[key].label}, shipped table")
    st.dataframe(pd.DataFrame(lines), hide_index=True, width="stretch", column_config=numbers)
    n_fid = 10 * int(score_per_digit)
    st.caption(f"Generated Images Accuracy on 1,000 images (100 per digit); FID and IS on {n_fid:,} generated "
               "images, FID against the 10,000 test images. GIA: Generated Images Accuracy. "
               "Columns ending in *table* are the shipped table's "
               "figures for the same run and mode (FID and IS on 10,000 images), empty where it has none. "
               "Seconds: time of the three metrics on this machine (a repeated request is served from cache).")
