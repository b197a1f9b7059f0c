"""Latent samplers (core/models/samplers.py): fitted per digit on codes, sampled reproducibly, stored in the
run folder and read back, offered as generation modes of the run's model, fitted by
scripts/fit_samplers.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import build_model
from core.models.samplers import (
    SAMPLERS,
    PerDigitGaussian,
    PerDigitMixture,
    SamplerError,
    SecondStageVAE,
    attach,
    load_samplers,
    save_sampler,
)
from core.paths import SHIPPED_CHECKPOINTS
from core.runs.store import load_run, save_run

REPO = Path(__file__).resolve().parent.parent


def mixture_codes(n_per_digit: int = 400, seed: int = 0):
    """Codes (10·n, 2): digit k is a mixture of two tight blobs at (k, +3) and (k, −3), weights ¾ and ¼."""
    gen = torch.Generator().manual_seed(seed)
    codes, labels = [], []
    for digit in range(10):
        upper = torch.rand(n_per_digit, generator=gen) < 0.75
        centre = torch.stack([torch.full((n_per_digit,), float(digit)), torch.where(upper, 3.0, -3.0)], 1)
        codes.append(centre + 0.2 * torch.randn(n_per_digit, 2, generator=gen))
        labels.append(torch.full((n_per_digit,), digit))
    return torch.cat(codes), torch.cat(labels)


@pytest.mark.parametrize("cls", [PerDigitGaussian, PerDigitMixture, lambda: SecondStageVAE(hidden=32, epochs=3)])
def test_fit_and_sample_shapes_and_reproducibility(cls):
    codes, labels = mixture_codes(60)
    sampler = cls().fit(codes, labels)
    digits = torch.tensor([0, 5, 5, 9])
    a = sampler.sample(digits, torch.Generator().manual_seed(1))
    b = sampler.sample(digits, torch.Generator().manual_seed(1))
    assert a.shape == (4, 2) and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, sampler.sample(digits, torch.Generator().manual_seed(2)))


def test_the_mixture_finds_the_two_blobs_and_samples_with_the_fitted_mean():
    codes, labels = mixture_codes()
    sampler = PerDigitMixture(max_components=4).fit(codes, labels)
    assert sampler.components == [2] * 10  # BIC picks the true number of components
    for digit in (0, 7):
        drawn = sampler.sample(torch.full((4000,), digit), torch.Generator().manual_seed(0))
        fitted_mean = (sampler.weights[digit].float()[:, None] * sampler.means[digit]).sum(0)
        torch.testing.assert_close(drawn.mean(0), fitted_mean, atol=0.12, rtol=0)
        # the fit: the codes' mean, and the upper blob's share of the codes as its weight
        mine = codes[labels == digit]
        torch.testing.assert_close(fitted_mean, mine.mean(0), atol=0.05, rtol=0)
        upper = float((sampler.means[digit][:, 1] > 0).float() @ sampler.weights[digit].float())
        assert upper == pytest.approx(float((mine[:, 1] > 0).float().mean()), abs=0.01)
        assert float((drawn[:, 1] > 0).float().mean()) == pytest.approx(upper, abs=0.03)
    # one Gaussian per digit puts its mean between the blobs, where no code lies
    gaussian = PerDigitGaussian().fit(codes, labels)
    assert float(gaussian.mean[0, 1]) == pytest.approx(1.5, abs=0.2)


def test_a_digit_without_codes_is_named():
    codes, labels = mixture_codes(10)
    with pytest.raises(SamplerError, match="digit 3 has 0 codes"):
        PerDigitGaussian().fit(codes[labels != 3], labels[labels != 3])


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_save_load_round_trip(name, tmp_path):
    codes, labels = mixture_codes(40)
    kwargs = {"hidden": 16, "epochs": 2} if name == SecondStageVAE.name else {}
    sampler = SAMPLERS[name](**kwargs).fit(codes, labels)
    save_sampler(tmp_path, sampler)
    (loaded,), problems = load_samplers(tmp_path)
    assert not problems and type(loaded) is type(sampler)
    digits = torch.arange(10)
    torch.testing.assert_close(loaded.sample(digits, torch.Generator().manual_seed(3)),
                               sampler.sample(digits, torch.Generator().manual_seed(3)))


def test_a_damaged_sampler_file_is_left_out_in_words(tmp_path):
    (tmp_path / "samplers").mkdir()
    (tmp_path / "samplers" / "density.pt").write_bytes(b"not a file torch wrote")
    samplers, problems = load_samplers(tmp_path)
    assert samplers == [] and list(problems) == ["density.pt"]
    assert problems["density.pt"].startswith("it cannot be read")


@pytest.mark.slow
def test_samplers_become_generation_modes_of_the_loaded_run(tmp_path):
    torch.manual_seed(0)
    model = build_model("conv-vae")  # samples from its prior only: no digits, no modes
    save_run(tmp_path / "run", model, {"split_seed": 0, "training": {"seed": 0}}, {"epoch": []}, {})
    codes, labels = mixture_codes(30)
    for name in ("density", "GMM (BIC)"):
        save_sampler(tmp_path / "run", SAMPLERS[name]().fit(codes, labels))
    loaded = load_run(tmp_path / "run").model
    assert list(loaded.generation_modes) == ["density", "GMM (BIC)"] and loaded.can("generate")
    images = loaded.generate(torch.tensor([1, 2, 3]), torch.Generator().manual_seed(0), "GMM (BIC)")
    assert images.shape == (3, 1, 28, 28) and 0 <= float(images.min()) <= float(images.max()) <= 1
    assert loaded.generation_mode("density").source == "Ghosh et al. 2020"
    # seed 000's models declare the density mode: the Gaussian fills it in place, other samplers come after
    cae = attach(build_model("cae", latent_dim=2), [PerDigitGaussian().fit(codes, labels),
                                                    PerDigitMixture().fit(codes, labels)])
    assert list(cae.generation_modes) == ["density", "deterministic", "GMM (BIC)"]
    assert list(cae.samplers) == ["density", "GMM (BIC)"] and cae.extra_modes == ["GMM (BIC)"]


def test_attaching_to_one_model_leaves_its_class_and_other_models_alone():
    codes, labels = mixture_codes(30)
    cls = type(build_model("conv-vae"))
    declared_modes, declared_capabilities = cls.generation_modes, cls.capabilities
    one, other = build_model("conv-vae"), build_model("conv-vae")
    attach(one, [PerDigitGaussian().fit(codes, labels)])
    assert list(one.generation_modes) == ["density"] and one.can("generate")
    assert other.generation_modes == () and not other.can("generate") and other.samplers == {}
    assert cls.generation_modes is declared_modes == () and cls.capabilities is declared_capabilities
    assert "generate" not in cls.capabilities and "generation_modes" not in vars(one)
    # a model's modes are its class's and its samplers': they are not rewritten in place
    with pytest.raises(AttributeError, match="attach"):
        one.generation_modes = ("dream",)
    with pytest.raises(AttributeError, match="attach"):
        one.capabilities = frozenset()
    # seed 000's declared density mode is filled on one CAE only
    cae, bare = build_model("cae", latent_dim=2), build_model("cae", latent_dim=2)
    attach(cae, [PerDigitGaussian().fit(codes, labels)])
    assert cae.generate(torch.tensor([3]), torch.Generator().manual_seed(0)).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match="not fitted yet"):
        bare.generate(torch.tensor([3]), torch.Generator().manual_seed(0))


def test_density_buffers_of_old_weights_load_into_the_density_sampler():
    """Weights written while seed 000's density lived in them (three buffers) load strictly; the
    buffers become the density sampler with the same numbers, and draw what they drew."""
    codes, labels = mixture_codes(30)
    fitted = PerDigitGaussian().fit(codes, labels)
    torch.manual_seed(0)
    model = build_model("cae", latent_dim=2).eval()
    old = {**model.state_dict(), "density_mean": fitted.mean.half(), "density_scale_tril": fitted.scale_tril.half(),
           "density_fitted": torch.ones((), dtype=torch.bool)}
    loaded = build_model("cae", latent_dim=2).eval()
    loaded.load_state_dict(old)  # strict
    density = loaded.samplers["density"]
    assert torch.equal(density.mean, fitted.mean.half().float()) and density.ridge == 1e-4
    labels = torch.tensor([0, 4, 4, 9])
    eps = torch.randn(4, 2, 1, generator=torch.Generator().manual_seed(7))
    by_hand = model.decode(density.mean[labels] + (density.scale_tril[labels] @ eps).squeeze(-1))
    assert torch.equal(loaded.generate(labels, torch.Generator().manual_seed(7)), by_hand)
    unfitted = {**model.state_dict(), "density_mean": torch.zeros(10, 2), "density_scale_tril": torch.eye(2).repeat(10, 1, 1),
                "density_fitted": torch.zeros((), dtype=torch.bool)}
    bare = build_model("cae", latent_dim=2)
    bare.load_state_dict(unfitted)
    assert bare.samplers == {}
    with pytest.raises(RuntimeError, match="Unexpected"):  # anything else unexpected is still refused
        build_model("cae", latent_dim=2).load_state_dict({**model.state_dict(), "stray": torch.zeros(1)})


@pytest.mark.parametrize("run", ["cae-z16-s0", "cvae-z16-s0"])
def test_the_shipped_density_mode_draws_the_images_it_drew_before_the_conversion(run):
    """tests/fixtures/density_before.pt holds the images the density mode drew, before the density
    moved from the weights' buffers to samplers/density.pt (commit 3e6827e's code and files, CPU, a
    generator seeded 0): the converted run draws the same images. Compared to 1e-6 (pixels in [0, 1]), not
    bit for bit: CI's processor rounds the decoder's float32 sums differently (1 ulp on a few pixels), while a
    wrong mean, scale or generator draw moves pixels by tenths."""
    before = torch.load(REPO / "tests" / "fixtures" / "density_before.pt", weights_only=True)
    loaded = load_run(SHIPPED_CHECKPOINTS / run)
    assert not any(key.startswith("density") for key in torch.load(loaded.path / "weights.pt", weights_only=True))
    assert isinstance(loaded.model.samplers["density"], PerDigitGaussian)
    images = loaded.model.generate(before["labels"], torch.Generator().manual_seed(before["generator_seed"]), "density")
    torch.testing.assert_close(images, before["images"][run], rtol=0, atol=1e-6)


def test_convert_density_moves_the_buffers_into_the_sampler_file_once(tmp_path, capsys):
    from core.explore.projections import SHIPPED_NAME, read_shipped
    from scripts import convert_density

    run = tmp_path / "cae-z8-s0"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", run)
    density = torch.load(run / "samplers" / "density.pt", weights_only=True)["state"]
    (run / "samplers" / "density.pt").unlink()
    state = torch.load(run / "weights.pt", weights_only=True)
    # the run as it was shipped before the conversion: the density as float16 buffers in the weights
    torch.save({**state, "density_mean": density["mean"].half(), "density_scale_tril": density["scale_tril"].half(),
                "density_fitted": torch.ones((), dtype=torch.bool)}, run / "weights.pt")
    key = next(k for k in np.load(run / SHIPPED_NAME).files if k != "weights_sha1")
    assert read_shipped(run, key) is None  # stamped for the shipped (converted) weights, not these
    write_projection_stamp(run)
    projection = read_shipped(run, key)
    before = load_run(run).model.generate(torch.arange(10), torch.Generator().manual_seed(3))
    assert convert_density.main(["--checkpoints", str(tmp_path)]) == 0
    assert "identical" in capsys.readouterr().out
    after = torch.load(run / "weights.pt", weights_only=True)
    assert set(after) == set(state) and all(torch.equal(after[k], state[k]) for k in state)
    stored = torch.load(run / "samplers" / "density.pt", weights_only=True)["state"]
    assert torch.equal(stored["mean"], density["mean"].half())
    assert torch.equal(load_run(run).model.generate(torch.arange(10), torch.Generator().manual_seed(3)), before)
    np.testing.assert_array_equal(read_shipped(run, key), projection)  # re-stamped, still valid
    assert convert_density.main(["--checkpoints", str(tmp_path)]) == 0  # a second pass changes nothing
    assert "no density in its weights; left as it is" in capsys.readouterr().out


def write_projection_stamp(run) -> None:
    """Stamp the run's shipped projections with its current weights (as they were before the conversion)."""
    from core.explore.projections import SHIPPED_NAME, weights_digest

    with np.load(run / SHIPPED_NAME) as data:
        entries = {k: data[k] for k in data.files if k != "weights_sha1"}
    np.savez_compressed(run / SHIPPED_NAME, weights_sha1=np.array(weights_digest(run)), **entries)


@pytest.mark.slow
def test_fit_samplers_script_stores_them_and_updates_the_card(tmp_path, mnist_root, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_root))
    from core.data.mnist import load_splits
    from core.training.trainer import TrainConfig, train
    from scripts import fit_samplers

    splits = load_splits(0, root=mnist_root, fetch=False).subset(600, 64, 64)
    cfg = TrainConfig(model="mlp-cvae", model_args={"latent_dim": 2}, epochs=1, seed=0, device="cpu")
    train(cfg, splits, out_dir=tmp_path / "mlp-cvae-z2-s0", progress=False)
    code = fit_samplers.main(["--checkpoints", str(tmp_path), "--samplers", "density", "GMM (BIC)"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "mlp-cvae-z2-s0" / "samplers").iterdir()) == ["density.pt", "gmm-bic.pt"]
    card = json.loads((tmp_path / "mlp-cvae-z2-s0" / "config.json").read_text())["card"]
    assert card["generation_modes"] == ["prior", "deterministic", "density", "GMM (BIC)"]
    assert card == load_run(tmp_path / "mlp-cvae-z2-s0").model.card()
    assert fit_samplers.main(["--checkpoints", str(tmp_path), "--samplers", "density"]) == 0  # kept, not refitted
    with pytest.raises(SystemExit):
        fit_samplers.main(["--checkpoints", str(tmp_path), "--runs", "nope"])


def test_sample_grid_script_draws_each_run_and_mode_side_by_side(tmp_path, capsys):
    from PIL import Image

    from scripts import sample_grid

    out = tmp_path / "grid.png"
    assert sample_grid.main(["cae-z16-s0:GMM (BIC)", "cgan-z100-s0", "--scale", "1", "--out", str(out)]) == 0
    picture = Image.open(out)
    assert picture.size == (2 * 291 + 12, 18 + 291)  # two 10×10 grids of 28-pixel images, 1-pixel gaps
    assert "cgan-z100-s0 · noise" in capsys.readouterr().out  # the run's default mode when none is named
    assert sample_grid.main(["cae-z16-s0:no such mode", "--out", str(out)]) == 2
    assert "choose from density, deterministic, GMM (BIC)" in capsys.readouterr().err
    assert sample_grid.main(["judge-s0", "--out", str(out)]) == 2
    assert "does not generate from digits" in capsys.readouterr().err
    assert torch.is_grad_enabled()  # the script leaves the process as it found it (tests train after it)
