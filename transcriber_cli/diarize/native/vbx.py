# Ported from pyannote.audio 4.0.7, pipelines/clustering.py and core/plda.py:
#
# The MIT License (MIT)
#
# Copyright (c) 2021-2025 CNRS
# Copyright (c) 2025- pyannoteAI
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in
# all copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.
#
# The PLDA setup and transform (VBxClustering.__init__ and _plda), _cluster_vbx and _vbx are
# modified from pyannote.audio 4.0.7's utils/vbx.py, itself BUT's VBx
# (https://github.com/BUTSpeechFIT/VBx, VBx/VB_diarization.py; L. Burget, P. Pálka; adapted
# for pyannote by H. Bredin), licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes here: only what pyannote's
# VBxClustering reaches is kept (no random initialisation, plotting, reference scoring or
# model return; no warning print when the ELBO decreases); the arithmetic is unchanged.
"""pyannote's community-1 clustering step (``VBxClustering``) without pyannote.audio.

Importing ``pyannote.audio`` pulls in lightning, torch._dynamo and torchmetrics: 7-9 s on our
GPU machines before diarization can start. This port needs numpy, scipy and einops (and
scikit-learn's KMeans, imported only when a requested speaker count overrides VBx's).

It repeats pyannote.audio 4.0.7's operations in the same order, on arrays of the same
dtypes and memory layouts, so its results are bitwise equal to pyannote's
(tests/diarize/test_native_vbx.py checks it): AHC initialisation, PLDA transform, VBx,
centroids, optional KMeans, constrained assignment.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from einops import rearrange
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.linalg import eigh
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.special import logsumexp, softmax

# PLDA space dimensions VBx uses: pyannote's PLDA default, never overridden by from_pretrained.
LDA_DIMENSION = 128
# The metric of every pyannote speaker embedding (the pipeline passes `_embedding.metric`).
METRIC = "cosine"
# A local speaker trains the clustering only if it speaks alone for this share of its chunk.
MIN_ACTIVE_RATIO = 0.2
# VBxClustering's cluster_vbx arguments and VBx's defaults.
MAX_ITERS = 20
EPSILON = 1e-4
INIT_SMOOTHING = 7.0
# VBx speakers whose prior falls to this or below are dropped.
MIN_SPEAKER_PRIOR = 1e-7


def _l2_norm(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, ord=2)[:, np.newaxis]


class VBxClustering:
    """community-1's clustering: AHC, then VBx on PLDA features, then centroid assignment.

    ``plda_dir`` holds ``xvec_transform.npz`` and ``plda.npz`` (the pipeline's ``plda/``
    folder); ``threshold``, ``Fa`` and ``Fb`` are the pipeline's ``clustering`` parameters
    (community-1: 0.6, 0.07, 0.8).
    """

    def __init__(self, plda_dir: Path | str, *, threshold: float, Fa: float, Fb: float) -> None:
        self.threshold = threshold
        self.Fa = Fa
        self.Fb = Fb
        self.constrained_assignment = True
        # At most this many embeddings train the clustering (None: all of them).
        self.max_train: int | None = None
        with np.load(Path(plda_dir) / "xvec_transform.npz") as x:
            self._mean1, self._mean2, self._lda = x["mean1"], x["mean2"], x["lda"]
        with np.load(Path(plda_dir) / "plda.npz") as p:
            self._plda_mu, plda_tr, plda_psi = p["mu"], p["tr"], p["psi"]
        # vbx_setup: within- and between-class covariances, then the generalized eigenproblem
        # that whitens the first and diagonalises the second (eigenvalues made descending).
        W = np.linalg.inv(plda_tr.T.dot(plda_tr))
        B = np.linalg.inv((plda_tr.T / plda_psi).dot(plda_tr))
        acvar, wccn = eigh(B, W)
        # Reversed views, as pyannote keeps them: strides can change numpy's product paths,
        # hence the last bits.
        self._plda_tr = wccn.T[::-1]
        self.phi = acvar[::-1][:LDA_DIMENSION]

    def _plda(self, x: np.ndarray) -> np.ndarray:
        """x-vectors -> PLDA features: centre, whiten and LDA-project, then the PLDA transform."""
        lda = self._lda
        x0 = np.sqrt(lda.shape[1]) * _l2_norm(
            lda.T.dot(np.sqrt(lda.shape[0]) * _l2_norm(x - self._mean1).T).T - self._mean2
        )
        return (x0 - self._plda_mu).dot(self._plda_tr.T)[:, :LDA_DIMENSION]

    @staticmethod
    def _filter_embeddings(embeddings: np.ndarray, segmentations: np.ndarray) -> np.ndarray:
        """The embeddings to train on: valid (no NaN) and speaking alone long enough."""
        _, num_frames, _ = segmentations.shape
        single_active_mask = np.sum(segmentations, axis=2, keepdims=True) == 1
        num_clean_frames = np.sum(segmentations * single_active_mask, axis=1)
        active = num_clean_frames >= MIN_ACTIVE_RATIO * num_frames
        valid = ~np.any(np.isnan(embeddings), axis=2)
        chunk_idx, speaker_idx = np.where(active * valid)
        return embeddings[chunk_idx, speaker_idx]

    @staticmethod
    def _constrained_argmax(soft_clusters: np.ndarray) -> np.ndarray:
        """Per chunk, a one-to-one speaker -> cluster assignment maximising the total score;
        speakers left over (more local speakers than clusters) get -2."""
        soft_clusters = np.nan_to_num(soft_clusters, nan=np.nanmin(soft_clusters))
        num_chunks, num_speakers, _ = soft_clusters.shape
        hard_clusters = -2 * np.ones((num_chunks, num_speakers), dtype=np.int8)
        for c, cost in enumerate(soft_clusters):
            speakers, clusters = linear_sum_assignment(cost, maximize=True)
            for s, k in zip(speakers, clusters):
                hard_clusters[c, s] = k
        return hard_clusters

    def __call__(
        self,
        embeddings: np.ndarray,
        segmentations: np.ndarray,
        num_clusters: int | None = None,
        min_clusters: int = 1,
        max_clusters: float = math.inf,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cluster the local speakers of every chunk.

        ``embeddings``: (num_chunks, local_speakers, dimension), NaN rows where no embedding
        could be extracted. ``segmentations``: (num_chunks, num_frames, local_speakers) 0/1,
        the ``.data`` of pyannote's binarized segmentations. The counts are what pyannote's
        pipeline passes after ``set_num_speakers``: ``min_clusters`` at least 1,
        ``max_clusters`` an int or ``math.inf``, ``num_clusters`` None unless known.

        Returns ``hard_clusters`` (num_chunks, local_speakers): int8 with -2 for speakers left
        unassigned, or int64 once KMeans has forced the count (plain argmax, as pyannote);
        ``soft_clusters`` (num_chunks, local_speakers, num_clusters) float64 scores, 2 minus
        the cosine distance; ``centroids`` (num_clusters, dimension).
        """
        constrained_assignment = self.constrained_assignment
        train_embeddings = self._filter_embeddings(embeddings, segmentations)
        if self.max_train is not None and len(train_embeddings) > self.max_train:
            # An evenly spread subset in time order (pyannote_pipeline.bound_clustering):
            # the AHC holds every pair's distance.
            keep = np.linspace(0, len(train_embeddings) - 1, self.max_train).round().astype(int)
            train_embeddings = train_embeddings[keep]

        num_chunks, num_speakers, dimension = embeddings.shape
        if train_embeddings.shape[0] < 2:
            # Too little to cluster: everybody is one speaker.
            hard_clusters = np.zeros((num_chunks, num_speakers), dtype=np.int8)
            soft_clusters = np.ones((num_chunks, num_speakers, 1))
            centroids = np.mean(train_embeddings, axis=0, keepdims=True)
            return hard_clusters, soft_clusters, centroids

        # AHC (centroid linkage on unit vectors) gives VBx its initial speakers.
        train_embeddings_normed = train_embeddings / np.linalg.norm(
            train_embeddings, axis=1, keepdims=True
        )
        dendrogram = linkage(train_embeddings_normed, method="centroid", metric="euclidean")
        ahc_clusters = fcluster(dendrogram, self.threshold, criterion="distance") - 1
        _, ahc_clusters = np.unique(ahc_clusters, return_inverse=True)

        q, sp = _cluster_vbx(ahc_clusters, self._plda(train_embeddings), self.phi, self.Fa, self.Fb)

        # Centroids: responsibility-weighted means of the speakers VBx kept.
        W = q[:, sp > MIN_SPEAKER_PRIOR]
        centroids = W.T @ train_embeddings.reshape(-1, dimension) / W.sum(0, keepdims=True).T

        # Re-cluster with KMeans only when VBx's count misses the requested one or the bounds.
        auto_num_clusters, _ = centroids.shape
        if auto_num_clusters < min_clusters:
            num_clusters = min_clusters
        elif auto_num_clusters > max_clusters:
            num_clusters = int(max_clusters)
        if num_clusters and num_clusters != auto_num_clusters:
            from sklearn.cluster import KMeans  # ~0.6 s to import: only on this path

            # pyannote: a constrained assignment might artificially add clusters back.
            constrained_assignment = False
            kmeans_clusters = KMeans(
                n_clusters=num_clusters, n_init=3, random_state=42, copy_x=False
            ).fit_predict(train_embeddings_normed)
            centroids = np.vstack(
                [
                    np.mean(train_embeddings[kmeans_clusters == k], axis=0)
                    for k in range(num_clusters)
                ]
            )

        e2k_distance = rearrange(
            cdist(rearrange(embeddings, "c s d -> (c s) d"), centroids, metric=METRIC),
            "(c s) k -> c s k",
            c=num_chunks,
            s=num_speakers,
        )
        soft_clusters = 2 - e2k_distance

        if constrained_assignment:
            # Silent local speakers score below every real score so they take no cluster.
            # (Any NaN score makes this NaN too, as in pyannote: _constrained_argmax then
            # replaces every NaN with the lowest score.)
            const = soft_clusters.min() - 1.0
            soft_clusters[segmentations.sum(1) == 0] = const
            hard_clusters = self._constrained_argmax(soft_clusters)
        else:
            hard_clusters = np.argmax(soft_clusters, axis=2)

        return hard_clusters, soft_clusters, centroids


def _cluster_vbx(
    ahc_init: np.ndarray, fea: np.ndarray, Phi: np.ndarray, Fa: float, Fb: float
) -> tuple[np.ndarray, np.ndarray]:
    """VBx started from the AHC clusters, smoothed one-hot responsibilities."""
    qinit = np.zeros((len(ahc_init), ahc_init.max() + 1))
    qinit[range(len(ahc_init)), ahc_init.astype(int)] = 1.0
    qinit = softmax(qinit * INIT_SMOOTHING, axis=1)
    return _vbx(fea, Phi, Fa, Fb, qinit)


def _vbx(
    X: np.ndarray, Phi: np.ndarray, Fa: float, Fb: float, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """VBx's GMM variant (Landini et al., "Bayesian HMM clustering of x-vector sequences (VBx)
    in speaker diarization", equation numbers below). X: (T, D) features; Phi: (D,) across-
    class covariance diagonal; gamma: (T, S) initial responsibilities. Returns the final
    responsibilities and the (S,) speaker priors."""
    D = X.shape[1]
    num_speakers = gamma.shape[1]
    pi = np.ones(num_speakers) / num_speakers

    G = -0.5 * (np.sum(X**2, axis=1, keepdims=True) + D * np.log(2 * np.pi))  # in (23)
    V = np.sqrt(Phi)  # between (5) and (6)
    rho = X * V  # (18)
    previous_elbo = None
    for _ in range(MAX_ITERS):
        invL = 1.0 / (1 + Fa / Fb * gamma.sum(axis=0, keepdims=True).T * Phi)  # (17)
        alpha = Fa / Fb * invL * gamma.T.dot(rho)  # (16)
        log_p_ = Fa * (rho.dot(alpha.T) - 0.5 * (invL + alpha**2).dot(Phi) + G)  # (23)

        eps = 1e-8
        lpi = np.log(pi + eps)
        log_p_x = logsumexp(log_p_ + lpi, axis=-1)  # marginal likelihood of each frame
        log_pX_ = np.sum(log_p_x, axis=0)

        gamma = np.exp(log_p_ + lpi - log_p_x[:, None])
        pi = np.sum(gamma, axis=0)
        pi = pi / pi.sum()

        elbo = log_pX_ + Fb * 0.5 * np.sum(np.log(invL) - invL - alpha**2 + 1)  # (25)
        if previous_elbo is not None and elbo - previous_elbo < EPSILON:
            break
        previous_elbo = elbo
    return gamma, pi
