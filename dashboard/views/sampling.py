"""Watch it sample: pick a digit and a seed and scrub through an iterative sampler's steps, seeing the
noisy sample x_t and the clean image x̂₀ the network predicts at each step, for every chosen run that
can trace its sampling (the diffusion reference), with the judge's reading and the haze beside them.

The trajectory is computed once per choice (cached); the step slider is a fragment that only picks
frames, so a step answers at once.
"""

import streamlit as st

from core.evaluation.metrics import HAZE_BAND, TEST_SET_HAZE
from core.explore.sampling import trace_sampling
from core.models.capabilities import TRACE
from dashboard.common import images_html, judge_run, plain, runs_that_can, selected_runs, side_by_side

st.title("Watch it sample")
st.markdown(
    "A diffusion model or a flow draws an image in steps: it starts from pure noise, and at each step its network "
    "predicts the clean image **x̂₀** hidden in the noisy sample **x_t**, then moves x_t a little towards that "
    "prediction. Pick a digit and a seed, set the sampler, and **scrub through the steps** to see the digit appear.")

runs = runs_that_can(lambda run: run.can(TRACE), "trace their sampling step by step", key="sampling",
                     runs=selected_runs(load=False), cannot="trace their sampling: they draw an image in one pass")
if not runs:
    st.stop()

c1, c2, c3, c4, c5 = st.columns([1, 1, 1.4, 1.4, 1.4])
digit = int(c1.selectbox("Digit", list(range(10)), index=7, key="sampling_digit"))
seed = int(c2.number_input("Seed", 0, 1_000_000, 0, key="sampling_seed",
                           help="Draws the starting noise (and the fresh noise of each step when η > 0)."))
steps = int(c3.select_slider("Steps", [1, 2, 3, 5, 10, 20, 50, 100], value=20, key="sampling_steps",
                             help="How many denoising steps the sampler takes from noise to image."))
eta = float(c4.slider("η (fresh noise per step)", 0.0, 1.0, 0.0, 0.1, key="sampling_eta",
                      help="0: deterministic, the image is a function of the starting noise. Diffusion: η = 1 adds as "
                           "much fresh noise at each step as the DDPM posterior (Song et al. 2021, eq. 16); flow: η "
                           "is the share of the noise estimate replaced by fresh noise."))
OWN = "model's own"
guidance = c5.select_slider("Guidance w", [OWN, 0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0], value=OWN,
                            key="sampling_guidance",
                            help="Classifier-free guidance (Ho & Salimans 2022): ε̂ = ε̂(no digit) + w·(ε̂(digit) − "
                                 "ε̂(no digit)). 1: no guidance; above 1 the digit is pushed harder.")
clean_end = st.toggle("Last step lands on the predicted clean image x̂₀", value=True, key="sampling_clean_end",
                      help="Diffusion (DDIM): off, the last step stops at timestep 0, which leaves noise of σ ≈ 0.003 "
                           "in every pixel (a faint background haze). A flow's last step always lands on x̂₀.")
judge = judge_run()


@st.cache_data(max_entries=64, show_spinner=False)
def traced(run_name: str, digit: int, seed: int, steps: int, eta: float, guidance, clean_end: bool):
    """The run's sampling of one image, every step kept (see core.explore.sampling), read by the judge."""
    run = next(r for r in runs if r.name == run_name)
    return trace_sampling(run.model, digit, seed, steps=steps, eta=eta, guidance=None if guidance == OWN else guidance,
                          clean_end=clean_end, judge=judge.model if judge else None)


traces = {}
for run in runs:
    with st.spinner(f"Sampling with {plain(run.label)}, every step kept…"):
        try:
            traces[run.name] = traced(run.name, digit, seed, steps, eta, guidance, clean_end)
        except ValueError as exc:
            st.error(f"{plain(run.label)} cannot sample with these settings: {plain(exc)}")
if not traces:
    st.stop()


def reading(probabilities) -> str:
    """'the judge reads a 7 (p = 0.98)'."""
    return f"the judge reads a {int(probabilities.argmax())} (p = {float(probabilities.max()):.2f})"


@st.fragment
def scrub() -> None:
    """The step slider and the frames it picks: a step reruns only this part, from the cached trajectory."""
    step = st.slider("Step", 1, steps, steps, key=f"sampling_step_{steps}",
                     help="Each step takes x_t, predicts the clean image x̂₀ and moves to the next, less noisy x_t.")

    def frames(run) -> None:
        trace = traces.get(run.name)
        if trace is None:
            return
        st.markdown(f"**{plain(run.label)}**")
        t = trace.timesteps[step - 1]
        left, right = st.columns(2)
        left.markdown(images_html(trace.x_t[step - 1][None, None], nrow=1, scale=6, title=f"x_t at t = {t:.0f}"),
                      unsafe_allow_html=True)
        left.caption(f"Input of step {step}: x_t at t = {t:.0f}")
        right.markdown(images_html(trace.x0[step - 1][None, None], nrow=1, scale=6, title=f"x̂₀ at step {step}"),
                       unsafe_allow_html=True)
        said = f"; {reading(trace.judge_x0[step - 1])}" if trace.judge_x0 is not None else ""
        right.caption(f"Its prediction x̂₀{said}")

    side_by_side(runs, frames, max_cols=2)


scrub()


def summary(run) -> None:
    trace = traces.get(run.name)
    if trace is None:
        return
    st.markdown(f"**{plain(run.label)}** · every step")
    st.markdown(images_html(trace.x_t[1:, None], nrow=trace.steps, scale=1 if trace.steps > 20 else 2,
                            title="x_t after each step"), unsafe_allow_html=True)
    st.markdown(images_html(trace.x0[:, None], nrow=trace.steps, scale=1 if trace.steps > 20 else 2,
                            title="x̂₀ at each step"), unsafe_allow_html=True)
    st.caption("Upper row: x_t after each step, left to right; lower row: the clean image x̂₀ predicted at each step.")
    left, right = st.columns([1, 2])
    left.markdown(images_html(trace.x_t[-1][None, None], nrow=1, scale=4, title="generated image"),
                  unsafe_allow_html=True)
    lines = [f"Generated in {trace.seconds:.2f} s ({trace.steps} steps)."]
    if trace.judge_final is not None:
        lines.append(f"Final image: {reading(trace.judge_final)}.")
        first = next((i for i, p in enumerate(trace.judge_x0) if int(p.argmax()) == digit), None)
        if first is not None:
            lines.append(f"The judge first reads a {digit} in x̂₀ at step {first + 1} of {trace.steps}.")
    low, high = HAZE_BAND
    lines.append(f"Haze: {100 * trace.haze:.1f} % of its pixels lie between {low:g} and {high:g} "
                 f"(the test digits: {100 * TEST_SET_HAZE:.1f} %).")
    right.markdown("  \n".join(lines))


st.subheader("The whole trajectory")
side_by_side(runs, summary, max_cols=2)
