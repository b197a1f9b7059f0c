"""2-D projections of latent codes (PCA with scikit-learn, UMAP with umap-learn), cached on disk.

UMAP of thousands of codes takes tens of seconds, so results are stored as ``.npy`` files under
``$DIGITLAB_CACHE`` (default ``<repo>/.cache/projections``), keyed by a hash of the codes and the
settings: the same codes never get projected twice, across reruns and app restarts.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_ENV_VAR = "DIGITLAB_CACHE"
METHODS = ("PCA", "UMAP")


def cache_root() -> Path:
    """Digit Lab's cache folder: ``$DIGITLAB_CACHE``, else ``<repo>/.cache`` (never in git)."""
    return Path(os.environ.get(CACHE_ENV_VAR, REPO_ROOT / ".cache"))


def cache_dir() -> Path:
    """Folder of cached projections (created on first use)."""
    return cache_root() / "projections"


def _key(codes: np.ndarray, method: str, seed: int, n_neighbors: int) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(codes, dtype=np.float32).tobytes())
    digest.update(f"{method}|{seed}|{n_neighbors}|{codes.shape}".encode())
    return digest.hexdigest()[:20]


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
    path = cache_dir() / f"{method.lower()}-{_key(codes, method, seed, n_neighbors)}.npy"
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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, path)
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
