"""Noise kinds (core/data/corruptions.py): known statistics at fixed seeds, bad levels, and the robustness rows."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from core.data.corruptions import NOISE_KINDS, gaussian, level_seed, noise_kind, occlusion, salt_and_pepper
from core.evaluation.robustness import robustness


def test_gaussian_noise_has_the_asked_spread_and_is_reproducible():
    grey = torch.full((200, 1, 28, 28), 0.5)
    noisy = gaussian(grey, 0.1, torch.Generator().manual_seed(0))
    delta = noisy - grey  # clipping is negligible 5 σ away from the bounds
    assert abs(float(delta.mean())) < 0.002 and float(delta.std()) == pytest.approx(0.1, rel=0.01)
    again = gaussian(grey, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    assert not torch.equal(noisy, gaussian(grey, 0.1, torch.Generator().manual_seed(1)))
    big = gaussian(grey, 5.0, torch.Generator().manual_seed(0))
    assert float(big.min()) == 0.0 and float(big.max()) == 1.0  # clipped to pixel range
    assert torch.equal(gaussian(grey, 0.0), grey)


def test_salt_and_pepper_hits_the_asked_share_half_white():
    grey = torch.full((100, 1, 28, 28), 0.5)
    noisy = salt_and_pepper(grey, 0.2, torch.Generator().manual_seed(0))
    hit = noisy != 0.5
    assert float(hit.float().mean()) == pytest.approx(0.2, abs=0.005)
    assert float((noisy[hit] == 1.0).float().mean()) == pytest.approx(0.5, abs=0.02)
    assert set(noisy[hit].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(salt_and_pepper(grey, 0.0), grey)


def test_occlusion_pastes_one_square_of_paper_inside_each_image():
    ink = torch.ones(500, 1, 28, 28)
    out = occlusion(ink, 8, torch.Generator().manual_seed(0))
    zeroed = out == 0
    assert (zeroed.sum(dim=(1, 2, 3)) == 64).all()
    for image in zeroed[:50, 0]:  # a square: its rows and columns span 8
        rows, cols = image.any(1).nonzero().flatten(), image.any(0).nonzero().flatten()
        assert rows.max() - rows.min() == 7 and cols.max() - cols.min() == 7
    corners = torch.stack([zeroed[i, 0].nonzero()[0] for i in range(500)])
    assert corners.min() >= 0 and corners.max() <= 20 and len({tuple(c.tolist()) for c in corners}) > 100
    assert torch.equal(occlusion(ink, 0), ink) and (occlusion(ink, 28) == 0).all()


@pytest.mark.parametrize("call, message", [
    (lambda x: gaussian(x, -0.1), "0 or more"),
    (lambda x: gaussian(x, float("nan")), "0 or more"),
    (lambda x: salt_and_pepper(x, 1.5), "between 0 and 1"),
    (lambda x: occlusion(x, 3.5), "whole number"),
    (lambda x: occlusion(x, 29), "between 0 and 28"),
    (lambda x: gaussian(x, "lots"), "must be a number"),
])
def test_bad_levels_are_refused_in_words(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.zeros(1, 1, 28, 28))


def test_kinds_are_found_by_name_and_seeds_differ_by_level():
    assert noise_kind("occlusion").label == "Occluding square"
    with pytest.raises(ValueError, match="the kinds are gaussian, salt_pepper, occlusion"):
        noise_kind("speckle")
    seeds = {level_seed(k, i) for k in NOISE_KINDS for i in range(len(k.levels))}
    assert len(seeds) == sum(len(k.levels) for k in NOISE_KINDS)
    assert all(len(k.levels) >= 6 and k.levels[0] == 0 for k in NOISE_KINDS)


def test_robustness_rows_of_a_classifier_and_an_autoencoder(mnist_splits):
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.catalog import read_run

    x, y = mnist_splits.test_x[:200], mnist_splits.test_y[:200]
    cae = read_run(SHIPPED_CHECKPOINTS / "cae-z16-s0").model
    rows = robustness(cae, x, y, noise_kind("gaussian"), levels=(0.0, 0.5))
    assert [r["level"] for r in rows] == [0.0, 0.5] and all(r["n"] == 200 for r in rows)
    assert rows[0]["accuracy"] > 0.9 and rows[1]["accuracy"] < rows[0]["accuracy"]
    assert rows[1]["bce"] > rows[0]["bce"] > 0 and rows[0]["input"] == "image+digit"
    vae = read_run(SHIPPED_CHECKPOINTS / "conv-vae-z2-s0").model  # reconstructs, cannot classify
    (row,) = robustness(vae, x, y, noise_kind("occlusion"), levels=(8.0,))
    assert row["accuracy"] is None and row["bce"] > 0 and row["input"] == "image"


def test_the_study_script_end_to_end(tmp_path, mnist_splits):
    from scripts import noise_study

    out = tmp_path / "noise.csv"
    assert noise_study.main(["--runs", "cae-z8-s0", "judge-s0", "--kinds", "salt_pepper", "--n-test", "50",
                             "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * 7 and set(table["run"]) == {"cae-z8-s0", "judge-s0"}
    assert table.loc[table["run"] == "judge-s0", "bce"].isna().all()
    assert noise_study.main(["--runs", "judge-s0", "--kinds", "occlusion", "--n-test", "50", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 3 * 7  # merged, nothing duplicated
    with pytest.raises(SystemExit):
        noise_study.main(["--runs", "cgan-z100-s0", "--out", str(out)])  # can neither classify nor reconstruct
