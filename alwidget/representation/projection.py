"""A 2-D map of a representation: ``[N, D]`` features → ``[N, 2]`` coordinates, and how faithful it is.

Three methods, behind one function (:func:`project_N_2`):

``"umap"``
    UMAP (umap-learn): keeps local neighbourhoods and shows clusters apart. Needs
    ``pip install umap-learn`` (numba compiles it on first use, about half a minute, once per machine).
``"tsne"``
    t-SNE with FFT-accelerated gradients (openTSNE): keeps local neighbourhoods best, slower.
    Needs ``pip install openTSNE``.
``"pca"``
    The first two principal components (scikit-learn): instant, always available, but
    neighbourhoods overlap.
``"auto"``
    t-SNE when openTSNE is installed (``pip install 'alwidget[map]'``), else UMAP when umap-learn
    is, else PCA. Chosen by time and neighbourhoods kept at 10,000 and 100,000 items
    (``benchmarks/projection.py``, BENCHMARKS.md): t-SNE kept 48 % / 37 % of each item's 10 nearest
    neighbours, UMAP 29 % / 12 %, PCA 7 % / 2 %; t-SNE took 34 s / 139 s on two cores, UMAP
    36 s / 75 s (seeded UMAP runs on one), PCA under half a second.

:func:`knn_preservation` measures a map: the fraction of each item's nearest neighbours in the
features that stay among its nearest neighbours on the map.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

import numpy as np

__all__ = ["METHODS", "available_methods", "default_method", "knn_preservation", "project_N_2"]

METHODS = ("auto", "umap", "tsne", "pca")
"""The values of ``method``."""

_PACKAGES = {"umap": ("umap", "umap-learn"), "tsne": ("openTSNE", "openTSNE")}


def _installed(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin is not None  # not a leftover folder (a namespace package)


def available_methods() -> tuple:
    """The methods that can run here, best first (``"pca"`` always; the others when their package is installed)."""
    return tuple(m for m in ("tsne", "umap", "pca") if m == "pca" or _installed(_PACKAGES[m][0]))


def default_method() -> str:
    """What ``method="auto"`` runs: the first of ``"tsne"``, ``"umap"``, ``"pca"`` that can run here."""
    return available_methods()[0]


def _check(features_N_D: np.ndarray) -> np.ndarray:
    x = np.asarray(features_N_D, dtype=np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"features must be [N, D] with N >= 3, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features hold NaN or infinite values; map the finite rows only")
    return x


def project_N_2(features_N_D: np.ndarray, method: str = "auto", *, seed: int = 0,
                n_threads: Optional[int] = None) -> np.ndarray:
    """A 2-D layout of ``features_N_D``.

    Parameters
    ----------
    features_N_D : array of shape [N, D]
        One row per item (N ≥ 3), finite.
    method : {"auto", "umap", "tsne", "pca"}
        See the module docstring.
    seed : int
        The same seed and features give the same map (UMAP then runs on one thread).
    n_threads : int, optional
        Threads for t-SNE (default: all cores).

    Returns
    -------
    numpy.ndarray of shape [N, 2], float32
        Each axis centred and scaled to unit standard deviation (the map's units mean nothing).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = _check(features_N_D)
    if method == "auto":
        method = default_method()
    if method in _PACKAGES and not _installed(_PACKAGES[method][0]):
        raise ImportError(f"method={method!r} needs the package {_PACKAGES[method][1]}: "
                          f"pip install {_PACKAGES[method][1]} (or use method='pca')")
    n = len(x)
    if method == "pca" or n < 16:  # too few items for a neighbour graph
        from sklearn.decomposition import PCA

        y = PCA(n_components=2, svd_solver="randomized" if n > 2000 else "full", random_state=seed).fit_transform(x)
    elif method == "umap":
        import warnings

        import umap

        with warnings.catch_warnings():  # "n_jobs value 1 overridden to 1 by setting random_state"
            warnings.simplefilter("ignore", UserWarning)
            y = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), min_dist=0.1, random_state=seed,
                          low_memory=True).fit_transform(x)
    else:
        from openTSNE import TSNE
        from threadpoolctl import threadpool_limits

        # openTSNE runs OpenMP threads that call BLAS; a multi-threaded OpenBLAS inside them warns
        # "Detect OpenMP Loop and this application may hang": BLAS runs on one thread meanwhile
        with threadpool_limits(limits=1, user_api="blas"):
            y = np.asarray(TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3.0), random_state=seed,
                                n_jobs=n_threads or -1, verbose=False).fit(x))
    y = np.asarray(y, dtype=np.float64)
    y -= y.mean(axis=0)
    y /= np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0)
    return y.astype(np.float32)


def knn_preservation(features_N_D: np.ndarray, map_N_2: np.ndarray, k: int = 10, sample: int = 2000,
                     seed: int = 0) -> float:
    """The fraction of nearest neighbours a map keeps, in ``[0, 1]``.

    For ``sample`` items drawn at random (all when fewer), the ``k`` nearest other items in the
    features (Euclidean, exact) and on the map are compared; the mean overlap ``|A ∩ B| / k`` is
    returned. 1 is a perfect map of the neighbourhoods; a random map scores about ``k / N``.
    """
    x = _check(features_N_D)
    m = np.asarray(map_N_2, dtype=np.float32)
    if m.shape != (len(x), 2):
        raise ValueError(f"map must be [N, 2] with N = {len(x)}, got {m.shape}")
    if not 1 <= k < len(x):
        raise ValueError(f"k must be in [1, N), got {k}")
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    overlap = 0.0
    for data in (x, m):
        nn = NearestNeighbors(n_neighbors=k + 1).fit(data)
        _, idx = nn.kneighbors(data[rows])
        if data is x:
            high = [set(r[r != i][:k]) for r, i in zip(idx, rows)]
        else:
            overlap = float(np.mean([len(h & set(r[r != i][:k])) / k for h, r, i in zip(high, idx, rows)]))
    return overlap
