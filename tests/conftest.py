"""Shared pytest fixtures for the Digit Lab test-suite."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# ------------------------------------------------------------------------------------------------
# core package fixtures (tests/test_data.py, test_models.py, test_checkpoints.py,
# test_training.py, test_cli.py)
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def mnist_raw() -> Path:
    """The verified raw MNIST folder (fetched first when missing, e.g. on CI). Used by every test, so
    that a test reading MNIST through ``shared_mnist`` or a started dashboard passes whatever runs
    before it (a test that named no fixture failed on a fresh clone when it happened to run first)."""
    from core.data.mnist import ensure_mnist

    return ensure_mnist(log=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def mnist_root(mnist_raw: Path) -> Path:
    """The data folder holding ``MNIST/raw`` (what ``--data-dir`` / ``$DIGITLAB_DATA`` point at)."""
    return mnist_raw.parent.parent


@pytest.fixture(scope="session")
def mnist_splits(mnist_root: Path):
    """Real MNIST splits (split seed 0), loaded once per session."""
    from core.data.mnist import DEFAULT_SPLIT_SEED, load_splits

    return load_splits(DEFAULT_SPLIT_SEED, root=mnist_root, fetch=False)


@pytest.fixture
def dashboard_ready(mnist_raw, tmp_path, monkeypatch):
    """What a dashboard page run under AppTest needs: MNIST present, and a cache folder of the test's own
    (projections, archives), so no test sees another's."""
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium launched headless through Playwright, shared by a test module (tests/browser.py)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def single_thread():
    """Run a test with one intra-op torch thread (small models on a busy 2-core machine are
    faster without thread hand-offs); the previous setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_data_root(tmp_path: Path, mnist_raw: Path):
    """Factory: a throw-away data folder ``<tmp>/data-N`` with copies of the real raw files.

    ``make_data_root(corrupt="name", how="flip"|"truncate", missing=("name", ...))`` returns the
    data folder (its ``MNIST/raw`` holds the files). Files are copied, never linked, so nothing a
    test does can reach the real data.
    """
    from core.data.mnist import MNIST_MD5

    counter = iter(range(1000))

    def make(corrupt: str | None = None, how: str = "flip", missing: tuple[str, ...] = ()) -> Path:
        root = tmp_path / f"data-{next(counter)}"
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in MNIST_MD5:
            if name in missing:
                continue
            shutil.copyfile(mnist_raw / name, raw / name)
        if corrupt is not None:
            path = raw / corrupt
            data = bytearray(path.read_bytes())
            if how == "flip":
                data[-1] ^= 0xFF
            elif how == "truncate":
                data = data[:-100]
            else:
                raise ValueError(how)
            path.write_bytes(bytes(data))
        return root

    return make
