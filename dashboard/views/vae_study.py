"""Seed 004's experiments on its convolutional VAE (β sweep and posterior collapse, regularization
ablation, 5-fold cross-validation, CPU against GPU), read from the shipped results folder
``checkpoints/vae_study`` that ``scripts/vae_study.py`` writes (core/studies/vae_study.py)."""

from pathlib import Path

import numpy as np
import streamlit as st

from core.paths import checkpoint_root
from core.studies.vae_study import (
    BASE,
    COMMAND,
    EXPERIMENTS,
    STUDY_DIR,
    StudyRun,
    all_runs,
    experiment_rows,
    load_records,
    load_timings,
    mean_std,
    summary,
)
from dashboard.common import DIGIT_COLOURS, TABLEAU_10, plain

st.title("β-VAE experiments")
st.markdown(
    "Seed 004 (Marquez Salazar) trains a convolutional VAE with a **2-D latent** and studies it four ways: "
    "the weight β of the KL term, regularizers, 5-fold cross-validation and CPU against GPU time. Here every "
    "experiment is rerun with **three training seeds** (0, 1, 2), and every number below comes from the "
    "shipped results of `" + COMMAND + "`. Losses are nats per image (BCE summed over the 784 pixels, KL "
    "summed over the 2 latent dimensions), on the 10,000 MNIST test images unless a tab says otherwise.")

folder = checkpoint_root() / STUDY_DIR


def _stamp(path: Path) -> tuple:
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in path.iterdir()))
    except OSError:
        return ()


@st.cache_data(show_spinner=False)
def read_study(path: str, stamp: tuple):
    return load_records(path), load_timings(path)


@st.cache_data(show_spinner=False, max_entries=64)
def read_latents(path: str, mtime: int) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path) as data:
            return data["mu"].astype(np.float32), data["labels"].astype(np.int64)
    except (OSError, ValueError, KeyError):
        return None


(records, unreadable), timings = read_study(str(folder), _stamp(folder))
if unreadable:
    st.warning(f"{len(unreadable)} result file(s) in checkpoints/{STUDY_DIR} cannot be read and are left out: "
               + ", ".join(plain(n) for n in unreadable[:8]) + (" …" if len(unreadable) > 8 else "")
               + f". `{COMMAND} --force` trains them again.")
if not records and not timings:
    st.info(f"No results of seed 004's experiments here yet: `{COMMAND}` writes them to `checkpoints/{STUDY_DIR}` "
            "(about 70 minutes on 2 CPU cores).")
    st.stop()

any_record = next(iter(records.values()), None)
if any_record is not None:
    s = any_record["settings"]
    st.caption(f"Every run: Adam {s['lr']:g}, batch {plain(s['batch_size'])}, {plain(s['epochs'])} epochs as the seed, "
               f"on {s['n_train']:,} training images (the seed uses 60,000; shortened to fit the study's "
               f"{len(all_runs())} runs on 2 CPU cores), "
               f"validation loss on {s['n_val']:,} images after each epoch.")


#: the runs of the β sweep and of the remedies, once (β = 1 appears under both its labels) and by run
sweep_rows = [r for name in ("beta", "remedy") for r in experiment_rows(EXPERIMENTS[name], records)]
sweep_runs = {r["key"]: r for r in sweep_rows}


def _fmt(mean: float, std: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _progress(name: str) -> None:
    runs = EXPERIMENTS[name].runs()
    done = sum(run.key in records for run in runs)
    if done < len(runs):
        st.caption(f"{done} of {len(runs)} runs of this experiment have results; `{COMMAND} --experiments {name}` "
                   "trains the rest.")


def collapse_table(names: tuple[str, ...]):
    import pandas as pd

    rows = []
    for n, name in enumerate(names):
        for row in summary(EXPERIMENTS[name], records, ("test_bce", "test_kl", "val_loss")):
            if n and row["variant"] == BASE.label:  # the same runs as β = 1 in the first experiment
                continue
            mine = [r for r in sweep_rows if r["variant"] == row["variant"]]
            rows.append({"run": row["variant"], "seeds collapsed": f"{row['collapsed']} of {row['runs']}",
                         "active latent dims (per seed)": ", ".join(str(r["active_dims"]) for r in mine),
                         "alive encoder units of 16 (per seed)": ", ".join(str(r["alive_units"]) for r in mine),
                         "KL (rate)": _fmt(row["test_kl_mean"], row["test_kl_std"]),
                         "BCE (distortion)": _fmt(row["test_bce_mean"], row["test_bce_std"]),
                         "source": row["source"]})
    return pd.DataFrame(rows)


def tradeoff_figure():
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = TABLEAU_10
    beta = EXPERIMENTS["beta"]
    means = []
    for i, variant in enumerate(beta.variants + EXPERIMENTS["remedy"].variants[1:]):
        rows = [r for r in sweep_rows if r["variant"] == variant.label]
        if not rows:
            continue
        if variant in beta.variants:
            means.append((mean_std([r["test_kl"] for r in rows])[0], mean_std([r["test_bce"] for r in rows])[0]))
        fig.add_trace(go.Scatter(
            x=[r["test_kl"] for r in rows], y=[r["test_bce"] for r in rows], mode="markers", name=variant.label,
            marker=dict(size=11, color=palette[i % len(palette)],
                        symbol=["x" if r["collapsed"] else ("circle" if variant in beta.variants else "diamond")
                                for r in rows], line=dict(width=1, color="white")),
            customdata=[[r["seed"], r["active_dims"], r["alive_units"], "collapsed" if r["collapsed"] else "uses its latent"]
                        for r in rows],
            hovertemplate=(f"{variant.label}<br>seed %{{customdata[0]}}: %{{customdata[3]}}<br>KL %{{x:.2f}} nats, "
                           "BCE %{y:.1f} nats<br>active dims %{customdata[1]}, alive units %{customdata[2]}"
                           "<extra></extra>")))
    if len(means) > 1:
        fig.add_trace(go.Scatter(x=[m[0] for m in means], y=[m[1] for m in means], mode="lines",
                                 name="β sweep, mean of seeds", line=dict(color="#888", dash="dot")))
    collapsed = [r for r in sweep_runs.values() if r["collapsed"]]
    if collapsed:  # they all draw the same average digit: their points fall on one spot
        fig.add_annotation(x=mean_std([r["test_kl"] for r in collapsed])[0],
                           y=mean_std([r["test_bce"] for r in collapsed])[0],
                           text=f"{len(collapsed)} collapsed runs", showarrow=True, arrowhead=2, ax=70, ay=0,
                           font=dict(size=11))
    fig.update_layout(height=490, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis_title="KL(q(z|x) ‖ N(0, I)), the rate (nats per image)",
                      yaxis_title="BCE, the distortion (nats per image)",
                      legend=dict(title_text="× = collapsed", orientation="h", yanchor="top", y=-0.18, xanchor="left",
                                  x=0))
    return fig


def scatter_grid(variants, seed: int):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = [(v, records.get(StudyRun(v, seed).key)) for v in variants]
    panels = [(v, r) for v, r in panels if r is not None]
    if not panels:
        return None
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[
        f"{v.label}{' (collapsed)' if r['collapsed'] else ''}" for v, r in panels], horizontal_spacing=0.05)
    for col, (variant, record) in enumerate(panels, 1):
        path = folder / f"{record['key']}.npz"
        loaded = read_latents(str(path), path.stat().st_mtime_ns) if path.exists() else None
        if loaded is None:
            continue
        mu, labels = loaded
        for digit in range(10):
            keep = labels == digit
            fig.add_trace(go.Scattergl(x=mu[keep, 0], y=mu[keep, 1], mode="markers", name=str(digit),
                                       legendgroup=str(digit), showlegend=col == 1,
                                       marker=dict(size=3, color=DIGIT_COLOURS[digit]),
                                       hovertemplate=f"digit {digit}<br>μ = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"),
                          row=1, col=col)
    fig.update_annotations(font_size=11)
    # every panel's axes titled; the digits' legend in one row under the panels (a column beside them
    # is taller than the figure and scrolls)
    fig.update_xaxes(title_text="μ1", title_standoff=2)
    fig.update_yaxes(title_text="μ2", title_standoff=0)
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(title_text="digit", orientation="h", yanchor="top", y=-0.22, xanchor="center",
                                  x=0.5, itemsizing="constant"))
    return fig


beta_tab, ablation_tab, cv_tab, device_tab = st.tabs(
    ["β sweep and collapse", "Regularization ablation", "5-fold cross-validation", "CPU against GPU"])

with beta_tab:
    st.markdown(
        "**The trade-off.** " + EXPERIMENTS["beta"].what + " One point per run (test set). A run is "
        "**collapsed** when no latent dimension is *active*, i.e. the variance over test images of the "
        "posterior mean stays below 0.01 (Burda et al. 2016, *Importance Weighted Autoencoders*, §5.2): its "
        "decoder then draws the same blurry average whatever the input.")
    _progress("beta")
    _progress("remedy")
    if any(k in records for k in (r.key for r in EXPERIMENTS["beta"].runs())):
        st.plotly_chart(tradeoff_figure(), width="stretch", key="study_tradeoff")
        st.markdown("**How many seeds collapse**, per β and per remedy (β = 1). *Alive encoder units* counts "
                    "the units of the encoder's Dense(16) ReLU layer that are positive for at least one test "
                    "image; with none alive, no gradient reaches the encoder again.")
        st.dataframe(collapse_table(("beta", "remedy")), hide_index=True, width="stretch")
        dead = [r for r in sweep_runs.values() if r["collapsed"]]
        alive = [r for r in sweep_runs.values() if not r["collapsed"]]
        if dead and alive:
            st.markdown(
                f"**What the runs say.** The {len(dead)} collapsed runs keep on average "
                f"{mean_std([r['alive_units'] for r in dead])[0]:.1f} of the encoder's 16 hidden units alive; the "
                f"{len(alive)} healthy runs keep {mean_std([r['alive_units'] for r in alive])[0]:.1f}. A remedy that "
                "only changes the KL term (free bits, warm-up) cannot revive units that receive no gradient; one "
                "that keeps a gradient through the unit (leaky ReLU) can. Compare their rows above.")
    st.markdown("**The 2-D latent space** of each run: posterior means μ of 2,000 test images, coloured by "
                "digit (labels never seen in training), as in the seed's Figs. 3–4.")
    seed = st.radio("Training seed", [0, 1, 2], horizontal=True, key="study_seed")
    for title, variants in (("β sweep", EXPERIMENTS["beta"].variants),
                            ("β = 1 and the remedies", EXPERIMENTS["remedy"].variants)):
        fig = scatter_grid(variants, seed)
        if fig is not None:
            st.caption(title)
            st.plotly_chart(fig, width="stretch", key=f"study_scatter_{title}")

with ablation_tab:
    experiment = EXPERIMENTS["ablation"]
    st.markdown("**Regularization ablation.** " + experiment.what + " The validation loss is the plain "
                "β-ELBO (BCE + KL, no penalty term), so the variants compare on the same measure.")
    _progress("ablation")
    rows = experiment_rows(experiment, records)
    if rows:
        import pandas as pd
        import plotly.express as px

        curves = pd.DataFrame([{"variant": r["variant"], "seed": r["seed"], "epoch": e, "validation loss": v}
                               for r in rows for e, v in zip(records[r["key"]]["history"]["epoch"],
                                                             records[r["key"]]["history"]["val/loss"])])
        fig = px.line(curves, x="epoch", y="validation loss", color="variant", line_dash="seed", markers=True,
                      labels={"validation loss": "validation loss (nats per image)"},
                      color_discrete_sequence=list(TABLEAU_10))
        fig.update_layout(height=400, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="")
        st.plotly_chart(fig, width="stretch", key="study_ablation_curves")
        table = pd.DataFrame([{
            "variant": r["variant"], "runs": r["runs"], "seeds collapsed": f"{r['collapsed']} of {r['runs']}",
            "final validation loss": _fmt(r["val_loss_mean"], r["val_loss_std"]),
            "test loss (BCE + KL)": _fmt(r["test_loss_mean"], r["test_loss_std"]),
            "test reconstruction BCE (posterior mean)": _fmt(r["reconstruction_bce_mean"], r["reconstruction_bce_std"]),
            "source": r["source"]}
            for r in summary(experiment, records, ("val_loss", "test_loss", "reconstruction_bce"))])
        st.markdown("**Final losses**, mean ± std over the seeds (sample std):")
        st.dataframe(table, hide_index=True, width="stretch")

with cv_tab:
    experiment = EXPERIMENTS["cv"]
    st.markdown("**5-fold cross-validation** (seed 004, II.D) of the seed's model, training seed 0: the first "
                "images of the training split are cut into 5 folds (scikit-learn's `KFold`, shuffled, seed 0); "
                "each run trains on 4 folds and is measured on the fifth.")
    _progress("cv")
    rows = experiment_rows(experiment, records)
    if rows:
        import pandas as pd

        # one column of words per column (the folds' numbers and the mean ± std row): no mixed dtypes
        folds = [{"fold": str(r["fold"] + 1), "trained on": f"{records[r['key']]['n_train']:,}",
                  "held out": f"{records[r['key']]['n_test']:,}",
                  "loss, BCE + KL (nats)": f"{r['test_loss']:.2f}",
                  "reconstruction BCE, posterior mean (nats)": f"{r['reconstruction_bce']:.2f}",
                  "collapsed": "yes" if r["collapsed"] else "no"} for r in rows]
        loss, recon = mean_std([r["test_loss"] for r in rows]), mean_std([r["reconstruction_bce"] for r in rows])
        folds.append({"fold": "mean ± std", "trained on": "", "held out": "",
                      "loss, BCE + KL (nats)": _fmt(*loss),
                      "reconstruction BCE, posterior mean (nats)": _fmt(*recon),
                      "collapsed": f"{sum(r['collapsed'] for r in rows)} of {len(rows)}"})
        st.dataframe(pd.DataFrame(folds), hide_index=True, width="stretch")

with device_tab:
    st.markdown("**CPU against GPU** (seed 004, experiment 1 and Table I): the seed's model (β = 1, training seed "
                "0) on the whole training split, seconds of each epoch and the losses beside them.")
    gpu_command = f"{COMMAND} --timing cuda --timing-only"
    if not timings:
        st.info(f"Not measured yet: `{COMMAND} --timing cpu --timing-only` on this machine, `{gpu_command}` on one "
                "with a CUDA GPU.")
    else:
        import pandas as pd

        n_epochs = max(len(t["epochs"]) for t in timings.values())
        table = {"epoch": list(range(1, n_epochs + 1))}
        for kind in ("cpu", "cuda"):
            label = "CPU" if kind == "cpu" else "GPU"
            rows = timings.get(kind, {}).get("epochs", [])
            for column, key, digits in (("time (s)", "seconds", 1), ("loss", "loss", 2), ("recon. loss", "bce", 2),
                                        ("val loss", "val_loss", 2)):
                values = [f"{row[key]:.{digits}f}" for row in rows]
                table[f"{label} {column}"] = values + ["not measured"] * (n_epochs - len(values))
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
        for kind, t in timings.items():
            st.caption(f"{'CPU' if kind == 'cpu' else 'GPU'}: {plain(t['device_name'])}, {plain(t['threads'])} torch "
                       f"thread(s), {t['n_train']:,} training and {t['n_val']:,} validation images, batch "
                       f"{plain(t['batch_size'])}, torch {plain(t['versions']['torch'])}.")
        if "cuda" not in timings:
            st.caption(f"GPU not measured: no GPU was lent to the session that ran the study. `{gpu_command}` on a "
                       "machine with a CUDA GPU writes its column.")
