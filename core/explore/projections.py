"""2-D projections of latent codes (PCA with scikit-learn, UMAP with umap-learn), cached on disk.

UMAP of thousands of codes takes tens of seconds, so results are stored as ``.npy`` files under
``$DIGITLAB_CACHE`` (default ``<repo>/.cache/projections``), keyed by a hash of the codes and the
settings: the same codes never get projected twice, across reruns and app restarts.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.paths import cache_root

METHODS = ("PCA", "UMAP")


def cache_dir() -> Path:
    """Folder of cached projections (created on first use)."""
    return cache_root() / "projections"


def _key(codes: np.ndarray, method: str, seed: int, n_neighbors: int) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(codes, dtype=np.float32).tobytes())
    digest.update(f"{method}|{seed}|{n_neighbors}|{codes.shape}".encode())
    return digest.hexdigest()[:20]


def _cache_path(codes: np.ndarray, method: str, seed: int, n_neighbors: int) -> Path:
    return cache_dir() / f"{method.lower()}-{_key(codes, method, seed, n_neighbors)}.npy"


def project(codes: np.ndarray, method: str = "PCA", seed: int = 0, n_neighbors: int = 15,
            use_cache: bool = True) -> np.ndarray:
    """Project latent codes (N, d) to 2-D.

    Args:
        codes: float array (N, d), N >= 3.
        method: ``"PCA"`` (first two principal components) or ``"UMAP"``.
        seed: random state of UMAP (ignored by PCA).

    Returns:
        float32 (N, 2).

    Raises:
        ValueError: unknown method or too few codes.
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {METHODS}")
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or codes.shape[0] < 3:
        raise ValueError(f"need at least 3 codes of shape (N, d), got {codes.shape}")
    path = _cache_path(codes, method, seed, n_neighbors)
    if use_cache and path.is_file():
        try:
            cached = np.load(path)
            if cached.shape == (codes.shape[0], 2):
                return cached
        except (OSError, ValueError):
            pass  # a broken cache file is recomputed and overwritten
    if codes.shape[1] == 1:
        out = np.concatenate([codes, np.zeros_like(codes)], axis=1)
    elif method == "PCA":
        from sklearn.decomposition import PCA

        out = PCA(n_components=2).fit_transform(codes)
    else:
        import umap

        out = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, codes.shape[0] - 1),
                        random_state=seed).fit_transform(codes)
    out = np.asarray(out, dtype=np.float32)
    if use_cache:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, out)
    return out


def principal_directions(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` principal directions of codes (N, d) and their standard deviations.

    Returns:
        ``(directions (k, d) float32 unit vectors, stds (k,) float32)``.
    """
    from sklearn.decomposition import PCA

    k = int(min(k, codes.shape[1], codes.shape[0]))
    pca = PCA(n_components=k).fit(np.asarray(codes, dtype=np.float32))
    return pca.components_.astype(np.float32), np.sqrt(pca.explained_variance_).astype(np.float32)


# --- projections shipped in run folders --------------------------------------------------------------
#: file in a run folder holding its precomputed projections of test codes (float16, small): UMAP and
#: PCA, and for a latent of at most 2 dimensions the codes themselves (method "CODES"), so that the
#: Latent space page's default views need no model (nor torch) to be drawn
SHIPPED_NAME = "projections.npz"
#: how long UMAP takes here (seconds ≈ a + b · N), measured by scripts/project.py on 2 busy CPU cores
#: with numba compiled (2,000 codes 5–9 s, 5,000 codes 10–20 s, 10,000 codes 9 s on one idle core);
#: only the first guess of the estimate shown while a projection is computed live (:class:`UmapClock`)
UMAP_SECONDS = (4.0, 0.0025)
#: numba compiles UMAP on its first use in a process (about 40 s here: 48 s against 9 s for the
#: same 10,000 codes once compiled, one core)
UMAP_FIRST_USE_SECONDS = 40.0


class UmapClock:
    """How long a live UMAP will take, for a progress bar: from the seconds per code that the UMAPs
    already run in this process took (the latest one that did not compile), else from
    :data:`UMAP_SECONDS`; the first UMAP of a process adds :data:`UMAP_FIRST_USE_SECONDS` (numba's
    compile). Thread-safe; one per process (:data:`UMAP_CLOCK`) shared by every session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_code: float | None = None  # seconds per code, measured
        self._compiled = False

    @property
    def compiled(self) -> bool:
        """Whether a UMAP has finished in this process (numba's compile is then done)."""
        return self._compiled

    def estimate(self, n: int, compiled: bool | None = None) -> float:
        """Seconds a UMAP of ``n`` codes should take (> 0); ``compiled``: whether numba's compile is
        done by then (default: whether it is done now)."""
        with self._lock:
            base = self._per_code * n if self._per_code is not None else UMAP_SECONDS[0] + UMAP_SECONDS[1] * n
            done = self._compiled if compiled is None else compiled
            return max(0.5, base) + (0.0 if done else UMAP_FIRST_USE_SECONDS)

    def record(self, n: int, seconds: float) -> None:
        """A UMAP of ``n`` codes took ``seconds`` (wall clock): the first one of the process (it
        compiled) only marks the compile as done; later ones set the time per code."""
        with self._lock:
            if self._compiled and n > 0 and seconds > 0:
                self._per_code = seconds / n
            self._compiled = True


#: the process's clock (the dashboard's sessions share it, as they share numba's compile)
UMAP_CLOCK = UmapClock()


def live_progress(k: int, total: int, elapsed: float, estimate: float, later: float) -> tuple[float, float]:
    """Where a batch of live UMAPs stands, for one progress bar over them all.

    Args:
        k: the run being projected, 1-based, of ``total`` runs to project (k ≤ total).
        elapsed: seconds since this run's UMAP started.
        estimate: seconds this run's UMAP should take (:meth:`UmapClock.estimate`).
        later: seconds the runs after it should take together.

    Returns:
        ``(fraction done in [0, 0.99], seconds left ≥ 1)``: the finished runs count whole, this one by
        its share of the estimate (at most 95 % while it runs over); the seconds left are this run's
        rest (at least 1 s) plus ``later``.

    Raises:
        ValueError: k outside 1..total or a non-positive estimate.
    """
    if not 1 <= k <= total or estimate <= 0:
        raise ValueError(f"need 1 <= k <= total and a positive estimate; got k={k}, total={total}, estimate={estimate}")
    fraction = (k - 1 + min(max(elapsed, 0.0) / estimate, 0.95)) / total
    return min(0.99, fraction), max(1.0, estimate - elapsed) + max(0.0, later)


def timed_umap(codes: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """:func:`project` with UMAP (disk cache included), its time recorded on :data:`UMAP_CLOCK` when it
    was computed rather than read from the cache. Returns float32 (N, 2).

    Raises:
        ValueError: as :func:`project`.
    """
    codes = np.asarray(codes, dtype=np.float32)
    computed = codes.ndim == 2 and codes.shape[1] > 1 and not _cache_path(codes, "UMAP", seed, n_neighbors).is_file()
    start = time.perf_counter()
    out = project(codes, method="UMAP", seed=seed, n_neighbors=n_neighbors)
    if computed:
        UMAP_CLOCK.record(len(codes), time.perf_counter() - start)
    return out


def shipped_key(method: str, mode: str, n: int, seed: int = 0, n_neighbors: int = 15) -> str:
    """Name of one projection inside :data:`SHIPPED_NAME`, e.g. ``"UMAP|image+digit|2000|0|15"``."""
    return f"{method}|{mode}|{int(n)}|{int(seed)}|{int(n_neighbors)}"


def weights_digest(run_dir: str | os.PathLike) -> str:
    """SHA-1 of a run's ``weights.pt`` (hex): shipped projections are valid for these weights only.
    Computed once per file version (path, size, modification time) in a process.

    Raises:
        OSError: the weights cannot be read.
    """
    path = Path(run_dir) / "weights.pt"
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def read_shipped(run_dir: str | os.PathLike, key: str) -> np.ndarray | None:
    """A shipped projection (N, 2) float32 of the run's current weights, or None when the folder has
    none under ``key``, the file is unreadable, or it was computed for other weights."""
    path = Path(run_dir) / SHIPPED_NAME
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if key not in data.files or str(data["weights_sha1"]) != weights_digest(run_dir):
                return None
            return data[key].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None


def write_shipped(run_dir: str | os.PathLike, projections: dict[str, np.ndarray]) -> Path:
    """Add projections ``{key: (N, 2) array}`` to the run folder's :data:`SHIPPED_NAME` (float16,
    written atomically; entries of other weights are dropped)."""
    run_dir = Path(run_dir)
    path = run_dir / SHIPPED_NAME
    digest = weights_digest(run_dir)
    entries: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["weights_sha1"]) == digest:
                    entries = {k: data[k] for k in data.files if k != "weights_sha1"}
        except (OSError, ValueError, KeyError):
            entries = {}
    entries.update({k: np.asarray(v, dtype=np.float16) for k, v in projections.items()})
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, weights_sha1=np.array(digest), **entries)
    return path


def place_codes(reference_codes: np.ndarray, reference_xy: np.ndarray, codes: np.ndarray, k: int = 10) -> np.ndarray:
    """Place new codes (M, d) in an existing 2-D embedding of ``reference_codes`` (N, d) →
    ``reference_xy`` (N, 2): each at the inverse-distance weighted mean of the positions of its
    ``k`` nearest reference codes (what UMAP's own ``transform`` starts from). Returns (M, 2) float32.

    Raises:
        ValueError: mismatched shapes.
    """
    reference_codes = np.asarray(reference_codes, dtype=np.float32)
    codes = np.atleast_2d(np.asarray(codes, dtype=np.float32))
    if reference_codes.shape[0] != len(reference_xy) or reference_codes.shape[1] != codes.shape[1]:
        raise ValueError(f"codes {codes.shape} do not match the reference {reference_codes.shape} / {np.shape(reference_xy)}")
    k = max(1, min(int(k), reference_codes.shape[0]))
    distances = np.sqrt(((codes[:, None, :] - reference_codes[None]) ** 2).sum(-1))  # (M, N)
    nearest = np.argsort(distances, axis=1)[:, :k]
    weights = 1.0 / (np.take_along_axis(distances, nearest, axis=1) + 1e-6)
    xy = np.asarray(reference_xy, dtype=np.float32)[nearest]  # (M, k, 2)
    return ((weights[..., None] * xy).sum(1) / weights.sum(1, keepdims=True)).astype(np.float32)
