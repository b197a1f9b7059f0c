"""10×10 generation grids: row = digit 0–9, column = sample; reproducible with a seed."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.evaluation.metrics import classifier_accuracy
from core.evaluation.specs import METRICS
from core.explore import latents as explore
from core.models import REGISTRY
from core.models.capabilities import GENERATE, SAMPLE
from dashboard.common import judge_run, plain, results_table, selected_runs, show_images, side_by_side, skip_note, test_set

DEFAULT = "default"
DEFAULT_HELP = "each model's own way: its first generation mode (named under its grid)"
#: the modes models declare themselves (the others come from samplers fitted to a run)
REGISTRY_MODES = {mode for cls in REGISTRY.values() for mode in cls.generation_modes}

st.title("Generation grids")
runs = selected_runs()
c1, c2, c3 = st.columns([1, 1, 2])
seed = c1.number_input("Seed", 0, 1_000_000, 0, key="gen_seed",
                       help="The same seed reproduces the same grid for a run.")
per_digit = c2.slider("Samples per digit", 1, 10, 10, key="gen_per_digit")
# every mode of the chosen runs: the models' own in the order they declare them, then the fitted samplers';
# descriptions come from the modes
offered = sorted((m for run in runs for m in run.model.generation_modes),
                 key=lambda m: m not in REGISTRY_MODES)
modes = [DEFAULT] + list(dict.fromkeys(str(m) for m in offered))


def mode_help(name: str) -> str:
    """What the mode called ``name`` does: its description, or each model's where they differ."""
    if name == DEFAULT:
        return DEFAULT_HELP
    return " / ".join(dict.fromkeys(m.help() for m in offered if m == name))


def capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


mode = c3.radio("Generation", modes, horizontal=True, key="gen_mode", format_func=capitalised,
                help="; ".join(f"**{m}**: {mode_help(m)}" for m in modes))
st.caption(f"**{capitalised(mode)}**: {mode_help(mode)}.")


def mode_for(run) -> str | None:
    """The name of the mode this run generates in, or None when it cannot serve the chosen one."""
    if not run.model.can(GENERATE) or not run.model.generation_modes:
        return None
    if mode == DEFAULT:
        return str(run.model.generation_modes[0])
    return mode if mode in run.model.generation_modes else None


@st.cache_data(max_entries=64, show_spinner=False)
def grid(run_name: str, per: int, seed: int, mode: str):
    run = {r.name: r for r in runs}[run_name]
    return explore.generation_grid(run.model, per, seed, mode)


def titled_grid(run) -> tuple[torch.Tensor, str] | None:
    """Write the run's title; return its grid and mode, or say why it has none and return None."""
    st.markdown(f"**{plain(run.label)}**")
    run_mode = mode_for(run)
    if run_mode is None:
        skip_note(run, f"generate in mode {mode}")
        return None
    return grid(run.name, per_digit, int(seed), run_mode), run_mode


judge = judge_run()


@st.cache_data(max_entries=256, show_spinner=False)
def judged(run_name: str, per: int, seed: int, mode: str) -> float:
    """The judge's accuracy on a run's grid (see :func:`grid`)."""
    labels = torch.arange(10).repeat_interleave(per)
    return classifier_accuracy(judge.model, grid(run_name, per, seed, mode), labels)


def render(run):
    served = titled_grid(run)
    if served is None:
        return
    images, run_mode = served
    show_images(images, nrow=per_digit, scale=2)
    st.caption(f"Mode {run_mode}: {run.model.generation_mode(run_mode).help()}. Rows: digits 0 (top) to 9; "
               "columns: samples.")
    if judge:
        accuracy = judged(run.name, per_digit, int(seed), run_mode)
        st.caption(f"The judge reads {100 * accuracy:.0f} % of these {10 * per_digit} images as the digit they "
                   "were generated for.")


side_by_side(runs, render, max_cols=2)

st.subheader("Real versus generated")
st.caption("As in seed 003's Fig. 3: a random real test image of each digit (upper row, drawn with the seed) "
           "above the first generated sample of the same digit (lower row).")
test_x, test_y = test_set()
rng = np.random.default_rng(int(seed))
real = torch.stack([test_x[int(rng.choice(np.flatnonzero(test_y.numpy() == d)))] for d in range(10)])


def render_pairs(run):
    served = titled_grid(run)
    if served is not None:
        fake = served[0][::per_digit]  # the first sample of each digit
        show_images(torch.cat([real, fake]), nrow=10, scale=2)


side_by_side(runs, render_pairs, max_cols=2)

st.subheader("Score these generators now")
st.caption(
    "The judge's metrics of seed 000's protocol, computed on the spot for the runs and the generation mode "
    "chosen above (any mode, not only the one the leaderboard reports): **Generated Images Accuracy** "
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
# unconditional samplers (no label, no modes) are scored in the default mode only
scorable = [run for run in runs if mode_for(run) is not None or (mode == DEFAULT and run.model.can(SAMPLE))]
request = (tuple(run.name for run in scorable), mode, int(score_per_digit))
if not judge:
    st.info("No judge classifier is shipped, so nothing can be scored (train one: "
            "`python scripts/train.py --model judge`).")
elif not scorable:
    st.info(f"None of the chosen runs generates in mode {mode}.")
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
