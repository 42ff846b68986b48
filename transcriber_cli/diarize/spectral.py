"""Spectral clustering of speaker embeddings that estimates the speaker count itself.

The count is the largest eigengap of the Laplacian of a pruned cosine-affinity graph (each
embedding keeps its PRUNING share of nearest neighbours; Park et al. 2019,
https://arxiv.org/abs/2003.02405). PRUNING was chosen on the dev set of
bench/diarization.md; NME-SC's per-recording choice of it split d-vector clusters into
fragments there (9-10 speakers for 2-4).
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.linalg import eigh
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

# Unknown counts are searched up to this many speakers (--max-speakers raises it).
MAX_ESTIMATED_SPEAKERS = 10
# Above this many embeddings, a spread-out subset is clustered and the rest joins the
# nearest centroid: the eigendecomposition grows with the cube of the count.
MAX_CLUSTERED = 1500
PRUNING = 0.3  # share of each row's neighbours kept (dev set: 0.05-0.5 tried)


def _affinity(x: np.ndarray, keep: float) -> np.ndarray:
    sim = np.clip(x @ x.T, 0.0, 1.0)
    k = max(2, int(np.ceil(keep * len(x))))
    cut = -np.sort(-sim, axis=1)[:, k - 1 : k]
    pruned = np.where(sim >= cut, sim, 0.0)
    affinity = (pruned + pruned.T) / 2
    np.fill_diagonal(affinity, 0.0)
    return affinity


def spectrum(
    x: np.ndarray, pruning: float | None = None, count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` smallest eigenvalues (ascending; all without it) and their eigenvectors
    of the graph Laplacian of unit-norm rows."""
    affinity = _affinity(x, PRUNING if pruning is None else pruning)
    laplacian = np.diag(affinity.sum(1)) - affinity
    if count is None or count >= len(x):
        return eigh(laplacian)
    # Only the few smallest are used: 1500 rows took 0.14 s instead of 0.45 s (2 cores).
    return eigh(laplacian, subset_by_index=[0, count - 1])


def estimate(
    x: np.ndarray, min_k: int, max_k: int, pruning: float | None = None
) -> tuple[int, np.ndarray]:
    """(speaker count, spectral embedding of each row) for unit-norm rows ``x``;
    ``1 <= min_k <= max_k < len(x)``."""
    values, vectors = spectrum(x, pruning, max_k + 1)
    gaps = np.diff(values[: max_k + 1])
    return int(np.argmax(gaps[min_k - 1 : max_k])) + min_k, vectors


# Every BLAS and OpenMP pool loaded (numpy's, scipy's, scikit-learn's...) is limited to one
# thread while clustering: a GPU machine's cores are busy with transcription (and other
# files' work), and a pool of a thread per core spun for matrices of a few hundred rows
# (bench/production.md). The pools are found at each call (about 2 ms), as a library loaded
# later has its own. One lock: OpenBLAS's thread count is per process, and two overlapping
# limits could restore each other's value.
_ONE_THREAD = threading.Lock()


class SpectralClustering:
    """Spectral clusters of unit embeddings, the count estimated unless given. Plain numpy
    and scikit-learn: the built-in pipeline runs without pyannote.audio (its "tracks"
    method, on pyannote's ``BaseClustering``, is in ``builtin_pyannote.py``)."""

    expects_num_clusters = False

    def cluster(
        self,
        embeddings: np.ndarray,
        min_clusters: int | None = None,
        max_clusters: int | None = None,
        num_clusters: int | None = None,
        pruning: float | None = None,
    ) -> np.ndarray:
        """``pruning``: the share of neighbours kept, PRUNING unless given."""
        with _ONE_THREAD, threadpool_limits(limits=1):
            return _labels(embeddings, min_clusters, max_clusters, num_clusters, pruning)


def _labels(
    embeddings: np.ndarray,
    min_clusters: int | None,
    max_clusters: int | None,
    num_clusters: int | None,
    pruning: float | None,
) -> np.ndarray:
    x = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    n = len(x)
    sample = np.linspace(0, n - 1, min(n, MAX_CLUSTERED)).round().astype(int)
    sub = x[sample]
    min_k = max(1, min_clusters or 1)
    max_k = min(len(sub) - 1, max_clusters or MAX_ESTIMATED_SPEAKERS)
    if num_clusters is None and max_clusters == n:  # no bound given: pyannote's default
        max_k = min(len(sub) - 1, max(min_k, MAX_ESTIMATED_SPEAKERS))
    if len(sub) < 3:
        return np.zeros(n, dtype=np.int32)
    if num_clusters is not None:  # a count given: nothing to estimate
        k = min(num_clusters, len(sub))
        vectors = spectrum(sub, pruning, k)[1]
    elif max_k < 1:
        return np.zeros(n, dtype=np.int32)
    else:
        k, vectors = estimate(sub, min(min_k, max_k), max_k, pruning)
    if k <= 1:
        return np.zeros(n, dtype=np.int32)
    spectral = vectors[:, :k]
    spectral = spectral / np.linalg.norm(spectral, axis=1, keepdims=True).clip(1e-10)
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(spectral)
    if len(sub) == n:
        return labels.astype(np.int32)
    centroids = np.stack([sub[labels == c].mean(0) for c in range(k)])
    return np.argmax(x @ centroids.T, axis=1).astype(np.int32)
