"""Known answers for the metrics of seed 000's Table 1 (core.evaluation.metrics, core.evaluation.inception, core.evaluation)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.evaluation.evaluator import Evaluator
from core.evaluation.metrics import accuracy, classifier_accuracy, extract, frechet_distance, inception_score
from core.evaluation.specs import METRICS
from core.models import build_model
from core.models.functional import bce_per_image


def confident_logits(classes: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Logits that put (all but) probability 1 on ``classes``."""
    return F.one_hot(classes, n_classes).float() * 60 - 30


# --- Fréchet distance -------------------------------------------------------------------------------

def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(2000, 32, generator=g)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    noise = torch.randn(2000, 32, generator=g)
    values = [frechet_distance(real, real + s * noise) for s in (0.1, 0.3, 1.0, 3.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert values[0] > 0


def test_frechet_distance_of_a_mean_shift_is_its_squared_length():
    real = torch.randn(5000, 8, generator=torch.Generator().manual_seed(1))
    shift = torch.tensor([1.0, 2, 0, 0, 0, 0, 0, 2])  # |shift|^2 = 9, covariances equal
    assert frechet_distance(real, real + shift) == pytest.approx(9.0, rel=1e-6)


def test_frechet_distance_of_two_known_gaussians():
    # N(0, I) vs N(0, 4 I) in d dims: Tr(I + 4I - 2·2I) = d
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(200_000, 4, generator=g), 2 * torch.randn(200_000, 4, generator=g)
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.02)


@pytest.mark.parametrize("real, fake", [(torch.zeros(5, 3), torch.zeros(5, 4)), (torch.zeros(1, 3), torch.zeros(5, 3)),
                                        (torch.zeros(5), torch.zeros(5, 1))])
def test_frechet_distance_refuses_bad_shapes(real, fake):
    with pytest.raises(ValueError):
        frechet_distance(real, fake)


# --- Inception Score --------------------------------------------------------------------------------

def test_inception_score_of_one_constant_prediction_is_one():
    logits = confident_logits(torch.full((1000,), 3))
    mean, std = inception_score(logits)
    assert mean == pytest.approx(1.0, abs=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_inception_score_of_confident_uniform_predictions_is_the_number_of_classes():
    logits = confident_logits(torch.arange(1000) % 10)
    assert inception_score(logits, splits=1)[0] == pytest.approx(10.0, rel=1e-6)
    # 10 random splits of 100: each split's class histogram is only nearly uniform
    mean, std = inception_score(logits, splits=10)
    assert 9.3 < mean < 10.0 and std > 0
    assert inception_score(confident_logits(torch.arange(1000) % 4, 4), splits=1)[0] == pytest.approx(4.0, rel=1e-6)


def test_inception_score_is_seeded_and_leaves_the_global_rng_alone():
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = inception_score(logits, seed=5)
    assert torch.rand(1) == before
    assert inception_score(logits, seed=5) == first
    assert inception_score(logits, seed=6) != first


def test_inception_score_refuses_too_few_rows():
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.zeros(5, 10), splits=10)


# --- accuracy and reconstruction error --------------------------------------------------------------

def test_accuracy_of_perfect_wrong_and_half_right_predictors():
    labels = torch.arange(50) % 10
    assert accuracy(confident_logits(labels), labels) == 1.0
    assert accuracy(confident_logits((labels + 1) % 10), labels) == 0.0
    half = labels.clone()
    half[:25] = (half[:25] + 1) % 10
    assert accuracy(confident_logits(half), labels) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        accuracy(confident_logits(labels), labels[:10])


def test_accuracy_is_the_figure_torchmetrics_gives():
    """The shipped tables were counted with torchmetrics' micro multiclass accuracy (float32): the
    plain count gives the same float, bit for bit, e.g. 0.92400002 for 924 of 1,000."""
    from torchmetrics.functional.classification import multiclass_accuracy

    gen = torch.Generator().manual_seed(0)
    for n in (1, 7, 1000, 10_000, 12_345):
        labels = torch.randint(0, 10, (n,), generator=gen)
        logits = torch.randn(n, 10, generator=gen)
        logits[torch.arange(n), labels] += 1.5
        assert accuracy(logits, labels) == float(multiclass_accuracy(logits, labels, num_classes=10, average="micro"))
    labels = torch.arange(1000) % 10
    asked = torch.where(torch.arange(1000) < 924, labels, (labels + 1) % 10)
    assert f"{accuracy(confident_logits(asked), labels):.8g}" == "0.92400002"  # as checkpoints/results.csv has it


def test_classifier_accuracy_is_the_share_read_as_the_digit_asked():
    class Reader:  # reads the digit written in the first pixel
        device = torch.device("cpu")

        def classify(self, x):
            return torch.log(torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 10).float() + 1e-9)

    images = torch.zeros(5, 1, 28, 28)
    images[:, 0, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert classifier_accuracy(Reader(), images, torch.tensor([1, 2, 0, 4, 5]), batch_size=2) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        classifier_accuracy(Reader(), images, torch.tensor([1, 2]))


def test_reconstruction_bce_of_a_known_pair_matches_a_hand_computation():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, :14] = 1.0                     # image 0: top half white (392 pixels), bottom black
    x[1] = 0.25                            # image 1: every pixel 0.25 (BCE is defined for soft targets)
    x_hat = torch.full_like(x, 0.8)
    # image 0: 392·(−ln 0.8) + 392·(−ln 0.2); image 1: 784·−(0.25 ln 0.8 + 0.75 ln 0.2)
    expected0 = 392 * -math.log(0.8) + 392 * -math.log(0.2)
    expected1 = 784 * -(0.25 * math.log(0.8) + 0.75 * math.log(0.2))
    got = bce_per_image(x, x_hat)
    assert got.shape == (2,)
    assert got[0].item() == pytest.approx(expected0, rel=1e-5)
    assert got[1].item() == pytest.approx(expected1, rel=1e-5)


def test_extract_batches_and_checks_shapes():
    images = torch.rand(7, 1, 28, 28)
    out = extract(lambda x: x.reshape(x.shape[0], -1)[:, :3], images, batch_size=3)
    assert torch.equal(out, images.reshape(7, -1)[:, :3])
    with pytest.raises(ValueError, match="28, 28"):
        extract(lambda x: x, torch.rand(2, 28, 28))


# --- the protocol on tiny models --------------------------------------------------------------------

@pytest.fixture
def tiny_evaluator():
    torch.manual_seed(0)
    judge = build_model("judge").eval()
    x = torch.rand(40, 1, 28, 28)
    y = torch.arange(40) % 10
    return Evaluator(x, y, judge, "cpu", fid_per_digit=3, gia_per_digit=2, log=lambda line: None)


def test_evaluator_rows_follow_capabilities(tiny_evaluator, single_thread):
    cgan = build_model("cgan").eval()
    cheap = ["generated_accuracy", "fid_judge", "is_judge", "classification_accuracy", "reconstruction_bce"]
    rows = {r["metric"]: r for r in tiny_evaluator.evaluate(cgan, cheap)}
    assert rows["generated_accuracy"]["status"] == "ok" and rows["generated_accuracy"]["n"] == 20
    assert 0.0 <= rows["generated_accuracy"]["value"] <= 1.0
    assert rows["fid_judge"]["n"] == 30 and rows["fid_judge"]["value"] > 0
    assert 1.0 <= rows["is_judge"]["value"] <= 10.0 and rows["is_judge"]["spread"] is not None
    assert rows["classification_accuracy"]["status"] == "n/a" and "classify" in rows["classification_accuracy"]["note"]
    assert rows["reconstruction_bce"]["status"] == "n/a"
    assert all(r["device"] == "cpu" and r["protocol"] == METRICS[r["metric"]].protocol for r in rows.values())

    vae = build_model("conv-vae").eval()  # unconditional: FID/IS from prior samples, no accuracy
    rows = {r["metric"]: r for r in tiny_evaluator.evaluate(vae, cheap)}
    assert rows["generated_accuracy"]["status"] == "n/a"
    assert rows["fid_judge"]["status"] == "ok" and rows["fid_judge"]["mode"] == "prior samples (no label)"
    assert rows["reconstruction_bce"]["status"] == "ok"


def test_evaluator_generation_modes_and_missing_judge(single_thread):
    x, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    cae = build_model("cae", latent_dim=4).eval()
    evaluator = Evaluator(x, y, None, "cpu", fid_per_digit=2, gia_per_digit=1, log=lambda line: None)
    rows = {r["metric"]: r for r in evaluator.evaluate(cae, ["generated_accuracy", "reconstruction_bce"],
                                                        mode="deterministic")}
    assert rows["generated_accuracy"]["status"] == "unavailable" and "judge" in rows["generated_accuracy"]["note"]
    assert rows["generated_accuracy"]["mode"] == "deterministic"
    assert rows["reconstruction_bce"]["status"] == "ok" and rows["reconstruction_bce"]["n"] == 20
    with pytest.raises(ValueError, match="generation mode"):
        evaluator.evaluate(cae, ["fid_judge"], mode="nope")
    with pytest.raises(KeyError, match="unknown metric"):
        evaluator.evaluate(cae, ["nope"])


def test_generated_accuracy_of_real_images_reads_their_labels(tiny_evaluator):
    class Oracle(torch.nn.Module):  # a judge that reads the digit from pixel (0, 0)
        role = "judge"

        def classify(self, x):
            return confident_logits((x[:, 0, 0, 0] * 10).round().long())

        def features(self, x):
            return x.reshape(x.shape[0], -1)[:, :4]

    labels = torch.arange(1000) % 10
    images = torch.zeros(1000, 1, 28, 28)
    images[:, 0, 0, 0] = labels / 10
    tiny_evaluator.judge = Oracle()
    rows = {r["metric"]: r for r in tiny_evaluator.evaluate_real(images, labels, ["generated_accuracy", "is_judge"])}
    assert rows["generated_accuracy"]["value"] == 1.0
    assert 9.3 < rows["is_judge"]["value"] <= 10.0  # 10 shuffled splits of 100: nearly uniform each


def test_inception_score_with_inceptionv3_runs_through_torchvisions_classifier(tiny_evaluator, single_thread,
                                                                                monkeypatch):
    """The InceptionV3 Inception Score path end to end, with torchvision's architecture: its ImageNet
    weights need internet (not here), so an untrained network stands in; without it the row says why."""
    from torchvision.models import inception_v3

    import core.evaluation.inception as inception

    def offline(log=print):
        raise inception.InceptionUnavailable("no classifier weights here")

    vae = build_model("conv-vae").eval()
    monkeypatch.setattr(inception, "load_inception_classifier", offline)
    row = tiny_evaluator.evaluate(vae, ["is_inception"])[0]
    assert row["status"] == "unavailable" and row["note"] == "no classifier weights here" and row["value"] is None

    torch.manual_seed(0)
    net = inception.InceptionClassifier(inception_v3(weights=None, aux_logits=True, init_weights=False).eval())
    monkeypatch.setattr(inception, "load_inception_classifier", lambda log=print: net)
    fresh = Evaluator(tiny_evaluator.test_x, tiny_evaluator.test_y, None, "cpu", fid_per_digit=3, log=lambda line: None)
    row = fresh.evaluate(vae, ["is_inception"])[0]
    assert row["status"] == "ok" and row["n"] == 30
    assert 1.0 <= row["value"] <= 1000.0 and row["spread"] is not None


def test_the_evaluator_computes_each_metric_through_its_object(tiny_evaluator, monkeypatch, single_thread):
    """A metric is an object with its protocol and the statistic that computes it: a new one is one
    object, and the evaluator serves it with no other edit (the sets it scores are made once per
    evaluation). Every metric names a statistic the evaluator has."""
    import dataclasses

    from core.evaluation.evaluator import COMPUTATIONS

    assert all(spec.computation in COMPUTATIONS for spec in METRICS.values())
    made = []

    def constant(spec, model, store, sets):
        images, labels, mode = sets.fid()
        made.append(id(images))
        return {"value": 42.0, "n": int(images.shape[0]), "mode": mode}

    monkeypatch.setitem(COMPUTATIONS, "constant", constant)
    spec = dataclasses.replace(METRICS["fid_judge"], key="constant", computation="constant")
    monkeypatch.setitem(METRICS, "constant", spec)
    rows = tiny_evaluator.evaluate(build_model("cgan").eval(), ["constant", "fid_judge", "constant"])
    assert [r["value"] for r in rows][::2] == [42.0, 42.0] and rows[0]["n"] == 30 and rows[0]["mode"] == "noise"
    assert rows[1]["status"] == "ok" and len(set(made)) == 1  # one generated set, shared
