"""Seed 004's experiments: the VAE's training options, the study's grids, its runs end to end on tiny
settings, the script, and the dashboard page (AppTest) on tiny results and on the shipped ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.models.seed004 import ConvolutionalVAE
from core.paths import SHIPPED_CHECKPOINTS
from core.studies.vae_study import (
    ABLATION_FILE,
    BASE,
    BETA_FILE,
    EXPERIMENTS,
    STUDY_DIR,
    StudyRun,
    StudySettings,
    Variant,
    _run_data,
    all_runs,
    latent_summary,
    load_records,
    load_timings,
    mean_std,
    run_one,
    summary,
    time_epochs,
)

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard" / "app.py")
TINY = StudySettings(n_train=64, n_val=32, n_test=48, epochs=1, batch_size=32, n_latents=40)


# --- the model's options ---------------------------------------------------------------------------

def test_the_base_model_keeps_its_two_arguments_so_the_shipped_run_loads():
    assert ConvolutionalVAE().model_args == {"latent_dim": 2, "beta": 1.0}
    shipped = torch.load(SHIPPED_CHECKPOINTS / "conv-vae-z2-s0" / "weights.pt", weights_only=True)
    ConvolutionalVAE().load_state_dict({k: v.float() for k, v in shipped.items()})  # strict: same layer names


def test_options_are_recorded_and_build_their_layers():
    model = ConvolutionalVAE(dropout=0.2, batch_norm=True, negative_slope=0.01, free_bits=0.5)
    assert model.model_args == {"latent_dim": 2, "beta": 1.0, "dropout": 0.2, "batch_norm": True,
                                "negative_slope": 0.01, "free_bits": 0.5}
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 4  # 2 encoder + 2 decoder convs
    assert isinstance(model.encoder[7], torch.nn.Dropout) and model.encoder[7].p == 0.2  # right after Flatten
    assert isinstance(model.encoder[6], torch.nn.Flatten)
    assert isinstance(model.encoder[-1], torch.nn.LeakyReLU)
    rebuilt = ConvolutionalVAE(**model.model_args)
    rebuilt.load_state_dict(model.state_dict())


@pytest.mark.parametrize("bad", [{"dropout": 1.0}, {"l1": -1e-5}, {"free_bits": -1}, {"kl_warmup_steps": -3},
                                 {"negative_slope": -0.1}, {"beta": float("nan")}])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError):
        ConvolutionalVAE(**bad)


def test_kernel_penalty_is_keras_l1_plus_l2_over_kernels_only():
    model = ConvolutionalVAE(l1=1e-5, l2=1e-4)
    kernels = [model.encoder[0].weight, model.encoder[2].weight, model.encoder[5].weight, model.to_mu.weight,
               model.to_logvar.weight, model.decoder[0].weight, model.decoder[3].weight, model.decoder[5].weight,
               model.decoder[7].weight]
    expected = 1e-5 * sum(w.abs().sum() for w in kernels) + 1e-4 * sum((w ** 2).sum() for w in kernels)
    assert float(model.kernel_penalty().detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    plain = ConvolutionalVAE()
    plain.load_state_dict(model.state_dict())
    assert float(plain.kernel_penalty()) == 0.0
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    with_penalty = model.training_loss(x, None, None)
    torch.manual_seed(0)
    without = plain.training_loss(x, None, None)
    difference = float((with_penalty["loss"] - without["loss"]).detach())  # float32 losses near 550
    assert difference == pytest.approx(float(expected.detach()), abs=1e-3)
    assert float(with_penalty["bce"].detach()) == float(without["bce"].detach())  # the logged terms stay the ELBO's


def test_free_bits_charge_at_least_lambda_per_dimension():
    torch.manual_seed(0)
    model = ConvolutionalVAE(free_bits=3.0)
    x = torch.rand(16, 1, 28, 28)
    torch.manual_seed(1)
    losses = model.training_loss(x, None, None)
    assert float(losses["kl"]) < 2 * 3.0  # an untrained encoder's KL is far below λ per dimension
    assert float(losses["loss"]) == pytest.approx(float(losses["bce"]) + 2 * 3.0, rel=1e-6)
    torch.manual_seed(1)
    val = model.validation_loss(x, None, None)  # validation: the plain β-ELBO
    assert float(val["loss"]) == pytest.approx(float(val["bce"] + val["kl"]), rel=1e-6)


def test_kl_warm_up_rises_linearly_and_is_saved():
    model = ConvolutionalVAE(beta=2.0, kl_warmup_steps=4)
    x = torch.rand(8, 1, 28, 28)
    weights = []
    opt = model.configure_optimizer(1e-3)
    for _ in range(6):
        weights.append(model.kl_weight())
        model.train_step(x, None, opt, None)
    assert weights == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert int(model.state_dict()["kl_steps"]) == 6
    model.eval()
    model.validation_loss(x, None, None)
    assert int(model.kl_steps) == 6  # validation does not advance the warm-up


# --- the grids ---------------------------------------------------------------------------------------

def test_the_grids_as_the_issue_lists_them():
    assert [v.model_args["beta"] for v in EXPERIMENTS["beta"].variants] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert {r.seed for r in EXPERIMENTS["beta"].runs()} == {0, 1, 2}
    ablation = [v.model_args for v in EXPERIMENTS["ablation"].variants]
    assert ablation[1:] == [{"latent_dim": 2, "beta": 1.0, "l1": 1e-5, "l2": 1e-4},
                            {"latent_dim": 2, "beta": 1.0, "dropout": 0.2},
                            {"latent_dim": 2, "beta": 1.0, "batch_norm": True}]
    assert len(EXPERIMENTS["cv"].runs()) == 5
    runs = all_runs()
    keys = [r.key for r in runs]
    assert len(keys) == len(set(keys)) == 38  # β=1 is shared by the sweep, the remedies and the ablation
    with pytest.raises(KeyError, match="choose from"):
        all_runs(["betas"])


def test_the_experiment_files_are_the_grids_and_name_the_runs():
    """experiments/seed004_beta.toml and seed004_ablation.toml are the one source of the β values, the
    regularizers and the seeds, and a run has the name scripts/sweep.py gives it (run_names)."""
    from core.training.experiments import load_experiment, run_names

    for name, path, study_variants in (("beta", BETA_FILE, EXPERIMENTS["beta"].variants),
                                       ("ablation", ABLATION_FILE, EXPERIMENTS["ablation"].variants[1:])):
        planned = load_experiment(path).runs
        assert [v.model_args for v in study_variants] == list({str(r.model_args): r.model_args for r in planned}.values())
        assert EXPERIMENTS[name].seeds == tuple(dict.fromkeys(r.seed for r in planned))
        mine = [r for r in EXPERIMENTS[name].runs() if r.variant in study_variants]
        assert sorted(r.key for r in mine) == sorted(run_names(planned)), name
    assert StudyRun(BASE, 1).key == "conv-vae-z2-s1-beta1.0" == StudyRun(EXPERIMENTS["beta"].variants[2], 1).key
    assert StudyRun(BASE, 0, fold=3).key == "conv-vae-z2-s0-beta1.0-cv3"
    assert StudyRun(Variant("x", (("dropout", 0.5),)), 2).key == "conv-vae-z2-s2-beta1.0-dropout0.5"  # outside the grid


def test_cross_validation_folds_are_disjoint_and_cover_the_pool(mnist_splits):
    settings = StudySettings(n_train=40)
    seen = []
    for fold in range(5):
        data = _run_data(StudyRun(Variant("x"), 0, fold), settings, mnist_splits)
        assert data.train_x.shape[0] == 40 and data.val_x.shape[0] == 10
        assert torch.equal(data.val_x, data.test_x)
        held = {tuple(np.flatnonzero(img.numpy().ravel() > 0.5)[:20]) for img in data.val_x}
        train = {tuple(np.flatnonzero(img.numpy().ravel() > 0.5)[:20]) for img in data.train_x}
        assert not held & train
        seen.extend(held)
    assert len(set(seen)) == 50


def test_latent_summary_counts_active_dimensions():
    torch.manual_seed(0)  # reproducible; the counts below hold for each of 60 seeds tried
    model = ConvolutionalVAE().eval()
    with torch.no_grad():
        model.to_mu.weight.zero_()
        model.to_mu.bias.fill_(0.3)  # constant posterior mean: no dimension carries anything
    summary_ = latent_summary(model, torch.rand(30, 1, 28, 28))
    assert summary_["active_dims"] == 0 and summary_["mu"].shape == (30, 2)
    with torch.no_grad():  # an untrained encoder codes uniform noise nearly alike: images of 30 brightnesses
        model.to_mu.weight[0].normal_(0, 10)  # and a strong weight make dimension 0 vary (Var > 0.03 > 0.01)
    images = torch.rand(30, 1, 28, 28) * torch.linspace(0, 1, 30).reshape(-1, 1, 1, 1)
    assert latent_summary(model, images)["active_dims"] == 1


def test_mean_std_is_the_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)


# --- runs end to end ---------------------------------------------------------------------------------

def test_a_tiny_run_writes_a_readable_record(tmp_path, mnist_splits, single_thread):
    run = EXPERIMENTS["ablation"].runs()[-1]  # BatchNorm, seed 2
    record = run_one(run, TINY, mnist_splits, tmp_path)
    assert (tmp_path / f"{run.key}.json").exists() and (tmp_path / f"{run.key}.npz").exists()
    assert not list(tmp_path.glob("*.part"))
    records, bad = load_records(tmp_path)
    assert bad == [] and records[run.key]["test"] == pytest.approx(record["test"])
    assert record["n_train"] == 64 and record["n_test"] == 48 and record["history"]["epoch"] == [1]
    assert record["model_args"]["batch_norm"] is True
    with np.load(tmp_path / f"{run.key}.npz") as data:
        assert data["mu"].shape == (40, 2) and data["labels"].shape == (40,)
    rows = summary(EXPERIMENTS["ablation"], records, ("test_loss",))
    assert [r["variant"] for r in rows] == ["BatchNorm after each convolution"] and rows[0]["runs"] == 1


def test_unreadable_records_are_named_and_left_out(tmp_path):
    (tmp_path / "b1-s0.json").write_text("{not json")
    (tmp_path / "b1-s1.json").write_text(json.dumps({"key": "b1-s1"}))
    (tmp_path / "timing-cpu.json").write_text("[]")
    records, bad = load_records(tmp_path)
    assert records == {} and bad == ["b1-s0.json", "b1-s1.json"]
    assert load_timings(tmp_path) == {}


def test_timing_records_seconds_and_losses_per_epoch(tmp_path, mnist_splits, single_thread):
    record = time_epochs("cpu", 2, mnist_splits, tmp_path, n_train=64)
    assert [row["epoch"] for row in record["epochs"]] == [1, 2]
    assert all(row["seconds"] > 0 and row["loss"] > 0 and row["val_loss"] > 0 for row in record["epochs"])
    assert load_timings(tmp_path)["cpu"]["n_train"] == 64
    with pytest.raises(ValueError):
        time_epochs("tpu", 1, mnist_splits, tmp_path, n_train=64)


def test_the_script_runs_a_grid_resumes_and_refuses_bad_arguments(tmp_path, mnist_root, capsys, monkeypatch):
    from scripts import vae_study

    out = tmp_path / "study"
    args = ["--experiments", "cv", "--n-train", "40", "--n-val", "16", "--n-test", "16", "--epochs", "1",
            "--jobs", "1", "--timing-epochs", "1", "--timing-n-train", "32", "--out", str(out)]
    assert vae_study.main(args) == 0
    assert sorted(p.name for p in out.glob("*.json")) == [f"conv-vae-z2-s0-beta1.0-cv{k}.json" for k in range(5)] + [
        "timing-cpu.json"]
    first = (out / "conv-vae-z2-s0-beta1.0-cv0.json").stat().st_mtime_ns
    assert vae_study.main(args + ["--timing", "none"]) == 0
    assert "5 already done, 0 to train" in capsys.readouterr().out
    assert (out / "conv-vae-z2-s0-beta1.0-cv0.json").stat().st_mtime_ns == first
    assert vae_study.main(["--markdown", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| reconstruction BCE |" in table and "| 1 | " in table and "not measured" in table
    with pytest.raises(SystemExit):
        vae_study.main(["--epochs", "0"])
    assert "at least 1" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        vae_study.main(["--out", str(tmp_path / "file")])
    assert "names a file" in capsys.readouterr().err


# --- the page ----------------------------------------------------------------------------------------

def _open(root: Path | None, monkeypatch) -> AppTest:
    if root is not None:
        monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("views/vae_study.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_without_results_says_how_to_make_them(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    at = _open(root, monkeypatch)
    assert any("scripts/vae_study.py" in i.value for i in at.info)
    (root / STUDY_DIR).mkdir()
    (root / STUDY_DIR / "b1-s0.json").write_text("garbage")
    at = _open(root, monkeypatch)
    assert any("cannot be read" in w.value and "b1" in w.value for w in at.warning)


def test_page_on_tiny_results(tmp_path, mnist_splits, monkeypatch, single_thread):
    root = tmp_path / "runs"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    study = root / STUDY_DIR
    for run in [r for r in all_runs(["beta"]) if r.seed == 0] + EXPERIMENTS["cv"].runs()[:2]:
        run_one(run, TINY, mnist_splits, study)
    time_epochs("cpu", 2, mnist_splits, study, n_train=64)
    at = _open(root, monkeypatch)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    tradeoff = charts[0]["data"]
    assert {t["name"] for t in tradeoff} >= {"β = 0.25", "β = 4", "β sweep, mean of seeds"}
    assert any("1 of 3 runs" in c.value or "5 of 15 runs" in c.value for c in at.caption)
    frames = [d.value for d in at.dataframe]
    cv = next(f for f in frames if "held out" in f.columns)
    assert list(cv["fold"]) == ["1", "2", "mean ± std"]
    timing = next(f for f in frames if "CPU time (s)" in f.columns)
    assert list(timing["GPU time (s)"]) == ["not measured", "not measured"]
    assert any("GPU not measured" in c.value for c in at.caption)


def test_the_shipped_study_is_complete_and_the_page_shows_it(monkeypatch):
    """The shipped results hold every run of every grid and the CPU timing, and the page's tables
    say what the records say."""
    folder = SHIPPED_CHECKPOINTS / STUDY_DIR
    records, bad = load_records(folder)
    assert bad == [] and set(records) == {run.key for run in all_runs()}
    assert all(r["settings"] == records[StudyRun(BASE, 0).key]["settings"] for r in records.values())  # one protocol
    assert "cpu" in load_timings(folder) and len(load_timings(folder)["cpu"]["epochs"]) >= 3
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 2_000_000  # small files, no weights
    at = _open(None, monkeypatch)
    assert not at.error
    frames = {tuple(d.value.columns): d.value for d in at.dataframe}
    collapse = next(f for cols, f in frames.items() if "seeds collapsed" in cols and "KL (rate)" in cols)
    for row in summary(EXPERIMENTS["beta"], records, ("test_kl",)):
        shown = collapse.loc[collapse["run"] == row["variant"], "seeds collapsed"].item()
        assert shown == f"{row['collapsed']} of 3"
    ablation = next(f for cols, f in frames.items() if "final validation loss" in cols)
    assert len(ablation) == 4
    timing = next(f for cols, f in frames.items() if "CPU time (s)" in cols)
    assert set(timing["GPU time (s)"]) == {"not measured"}
