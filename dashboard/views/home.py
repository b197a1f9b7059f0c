"""Overview: what Digit Lab is and the shipped runs with their test metrics."""

import re

import streamlit as st

from core.evaluation.reference import SEED000_TABLE1
from core.runs.catalog import is_judge
from dashboard.common import all_runs, fmt_metric, html_text, plain, runs_and_errors

st.title("Digit Lab")
st.markdown(
    "Explore conditional generative models of handwritten digits, trained on real MNIST. Pick runs in the "
    "sidebar: every page shows them **side by side on the same inputs**, and says so when a model cannot "
    "serve a view.")
runs, errors = runs_and_errors()


def short_source(source: str) -> str:
    """A model's source up to its first comma or colon: "seed 000", "reference (not a seed model)"."""
    return re.split(r"[,:]", source, maxsplit=1)[0].strip()


# one row per model among the listed runs, from the runs' cards (each model class writes its own summary)
models = {}
for run in runs.values():
    models.setdefault(run.display_name, run.card)
st.html('<div class="dl-table-wrap"><table class="dl-table dl-wrap dl-prose" data-testid="models-table"><thead><tr><th>model</th>'
        '<th>source</th><th>what it is</th></tr></thead><tbody>'
        + "".join(f"<tr><td>{html_text(name)}</td><td>{html_text(short_source(card.get('source', '')))}</td>"
                  f"<td>{html_text(card.get('summary', ''))}</td></tr>" for name, card in models.items())
        + "</tbody></table></div>")
rows = []
for name, run in runs.items():
    training = run.config.get("training", {})
    ref = SEED000_TABLE1.get((run.config.get("model"), run.latent_dim), {})
    ref_acc, ref_bce = ref.get("classification_accuracy"), ref.get("reconstruction_bce")
    rows.append({
        "run": name,
        "model": run.display_name,
        "source": short_source(run.card["source"]),
        "latent": run.latent_dim,
        "seed": training.get("seed"),
        "epochs": training.get("epochs"),
        "test accuracy (image only)": fmt_metric(run, "classification_accuracy", 2, percent=True),
        "seed 000 Table 1 accuracy": f"{100 * ref_acc[0]:.0f} ± {100 * ref_acc[1]:.2f} %" if ref_acc else "—",
        "reconstruction BCE (nats/image)": fmt_metric(run, "reconstruction_bce", 2),
        "seed 000 Table 1 BCE": f"{ref_bce[0]:.2f} ± {ref_bce[1]:.2f}" if ref_bce else "—",
        "trained on": training.get("device"),
        "train time (s)": training.get("train_seconds"),
    })
st.subheader("Shipped runs")
if rows:
    # a plain HTML table: the interactive table's JavaScript (~1.7 MB) would slow the first page down, and
    # st.html (not markdown with HTML, whose parser is one more 190 KB script fetched after the first run)
    header = "".join(f"<th>{html_text(key)}</th>" for key in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html_text('' if value is None else value)}</td>" for value in row.values())
                   + "</tr>" for row in rows)
    st.html(f'<div class="dl-table-wrap"><table class="dl-table dl-wrap" data-testid="runs-table"><thead><tr>{header}'
            f'</tr></thead><tbody>{body}</tbody></table></div>')
    st.caption(
        "Test metrics on the 10,000 MNIST test images. Accuracy: argmax of the digit head with the image "
        "alone as input. Reconstruction BCE: binary cross-entropy summed over the 784 pixels, nats per "
        "image, image+digit input, posterior mean for the CVAE. Seed 000's Table 1 values are quoted from "
        "the report (mean ± std over its runs; its BCE read as summed over pixels). Reproduce ours with "
        "`python scripts/train.py --model cae cvae --latent-dim 8 16 32 64` (these are the training-time "
        "figures of seed 0, in each run's metrics.json)."
    )
    st.page_link("views/leaderboard.py", label="All of Table 1's metrics, mean ± std over seeds: the Leaderboard",
                 icon=":material/leaderboard:")

judge = next((run for run in all_runs()[0].values() if is_judge(run)), None)
if judge:
    st.subheader("The judge")
    st.markdown(f"**{plain(judge.label)}**: an independent convolutional classifier trained on the same 48,000 images "
                f"({fmt_metric(judge, 'classification_accuracy', 2, percent=True)} on the 10,000 test images). "
                "It scores generated and drawn digits; it is not one of the compared models. It was trained on "
                "rotated, shifted, blurred and dimmed digits, so it also reads the soft gray digits that "
                "autoencoders generate.")
