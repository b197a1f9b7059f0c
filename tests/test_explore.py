"""Model-agnostic dashboard computations (core.explore) and projections (core.explore.projections)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.explore import latents as explore
from core.explore.projections import principal_directions, project
from core.models import build_model
from core.models.capabilities import DIGIT_ONLY, IMAGE_AND_DIGIT
from core.models.samplers import PerDigitGaussian, attach


@pytest.fixture(scope="module")
def cae():
    torch.manual_seed(0)
    model = build_model("cae", latent_dim=6).eval()
    attach(model, [PerDigitGaussian().fit(torch.randn(200, 6), torch.arange(10).repeat(20))])
    return model


def test_generation_grid_rows_are_digits_and_seed_reproduces(cae):
    a = explore.generation_grid(cae, per_digit=3, seed=5)
    b = explore.generation_grid(cae, per_digit=3, seed=5)
    c = explore.generation_grid(cae, per_digit=3, seed=6)
    assert a.shape == (30, 1, 28, 28)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_encode_dataset_modes(cae):
    x, y = torch.rand(7, 1, 28, 28), torch.arange(7)
    assert explore.encode_dataset(cae, x, y, IMAGE_AND_DIGIT).shape == (7, 6)
    digit_codes = explore.encode_dataset(cae, x, y, DIGIT_ONLY)
    # digit-only codes ignore the images
    assert np.allclose(digit_codes, explore.encode_dataset(cae, torch.zeros_like(x), y, DIGIT_ONLY))


def test_interpolation_endpoints_and_midpoint():
    z = explore.interpolate_codes(np.zeros(3), np.ones(3) * 2, 5)
    assert z.shape == (5, 3)
    assert np.allclose(z[0], 0) and np.allclose(z[-1], 2) and np.allclose(z[2], 1)


def test_class_probabilities_sum_to_one(cae):
    p = explore.class_probabilities(cae, np.random.rand(28, 28))
    assert p.shape == (10,) and abs(p.sum() - 1) < 1e-6


def test_tile_layout():
    images = torch.zeros(6, 1, 28, 28)
    images[0] = 1.0
    grid = explore.tile(images, nrow=3, scale=2, padding=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * (2 * 29 + 1), 2 * (3 * 29 + 1))
    assert grid[2:58, 2:58].min() == 255  # the first image is white


def test_projection_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    codes = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    first = project(codes, "PCA")
    files = list((tmp_path / "projections").glob("pca-*.npy"))
    assert first.shape == (60, 2) and len(files) == 1
    np.save(files[0], np.full((60, 2), 7.0, dtype=np.float32))  # a cache hit returns the stored array
    assert np.all(project(codes, "PCA") == 7.0)
    assert not np.all(project(codes, "PCA", use_cache=False) == 7.0)


@pytest.mark.slow
def test_umap_projection_separates_clusters(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 0.1, (50, 8)), rng.normal(5, 0.1, (50, 8))]).astype(np.float32)
    xy = project(codes, "UMAP")
    assert xy.shape == (100, 2)
    within = np.linalg.norm(xy[:50] - xy[:50].mean(0), axis=1).mean()
    between = np.linalg.norm(xy[:50].mean(0) - xy[50:].mean(0))
    assert between > 3 * within


def test_projection_refuses_bad_input():
    with pytest.raises(ValueError):
        project(np.zeros((2, 4)), "PCA")
    with pytest.raises(ValueError):
        project(np.zeros((10, 4)), "tSNE")


def test_principal_directions_are_orthonormal_and_sorted():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 4)) * np.array([5.0, 2.0, 1.0, 0.5])
    directions, stds = principal_directions(codes, 3)
    assert directions.shape == (3, 4) and stds.shape == (3,)
    assert np.allclose(directions @ directions.T, np.eye(3), atol=1e-5)
    assert stds[0] > stds[1] > stds[2]
    assert abs(stds[0] - 5.0) < 0.6


@pytest.mark.parametrize("n, nrow", [(1, 1), (2, 1), (7, 3), (10, 10), (20, 10)])
def test_tile_lays_images_out_like_torchvision_make_grid(n, nrow):
    """explore.tile is numpy (torchvision's import is slow in the dashboard); same picture as make_grid."""
    from torchvision.utils import make_grid

    from core.explore.latents import tile

    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))
    expected = (make_grid(x, nrow=nrow, padding=1, pad_value=0.35)[0].numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(tile(x, nrow), expected)
    assert tile(x, nrow, scale=3).shape == (3 * expected.shape[0], 3 * expected.shape[1])
