"""The native VBx clustering gives pyannote.audio's VBxClustering results bit for bit.

Both run on the same random PLDA (community-1's sizes: 256-d x-vectors, 128-d PLDA) with
community-1's parameters, on clustered embeddings of 300 chunks of 589 frames and 3 local
speakers, some silent or too short (NaN embeddings, as pyannote's embedding step gives).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from random_pipeline import _plda

from transcriber_cli.diarize.native.vbx import VBxClustering

DIMENSION, LDA_DIMENSION = 256, 128  # community-1's x-vectors and PLDA
NUM_CHUNKS, NUM_FRAMES, LOCAL_SPEAKERS = 300, 589, 3
PARAMS = {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}  # community-1's clustering parameters
MIN_EMBEDDING_FRAMES = 8  # shorter turns get a NaN embedding (too few samples)


def _inputs(
    num_speakers: int, seed: int, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings around one centre per speaker; 1-3 local speakers per chunk with turns from
    a few frames (NaN embedding) to most of the chunk; at most 2 overlap, like powerset."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_speakers, DIMENSION))
    segmentations = np.zeros((NUM_CHUNKS, NUM_FRAMES, LOCAL_SPEAKERS), np.float32)
    embeddings: np.ndarray = np.full((NUM_CHUNKS, LOCAL_SPEAKERS, DIMENSION), np.nan, dtype)
    for c in range(NUM_CHUNKS):
        n = rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2])
        slots = rng.permutation(LOCAL_SPEAKERS)[:n]
        for slot, s in zip(slots, rng.choice(num_speakers, n, replace=False)):
            length = int(
                rng.choice(
                    [rng.integers(2, 12), rng.integers(30, 200), rng.integers(150, NUM_FRAMES)]
                )
            )
            start = int(rng.integers(0, NUM_FRAMES - length + 1))
            segmentations[c, start : start + length, slot] = 1
            if length >= MIN_EMBEDDING_FRAMES:
                embeddings[c, slot] = centres[s] + 0.5 * rng.standard_normal(DIMENSION)
        segmentations[c, segmentations[c].sum(1) > 2, slots[-1]] = 0
    return embeddings, segmentations


@pytest.fixture(scope="module")
def plda_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("plda")
    _plda(directory, DIMENSION, LDA_DIMENSION, np.random.default_rng(0))
    return directory


@pytest.fixture(scope="module")
def pyannote_clustering(plda_dir: Path):
    """Built as SpeakerDiarization.__init__ builds it for community-1's config."""
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines.clustering import VBxClustering as PyannoteVBx

    plda = PLDA.from_pretrained(str(plda_dir))
    assert plda is not None
    clustering = PyannoteVBx(plda, metric="cosine")
    clustering.instantiate(PARAMS)
    return clustering


@pytest.fixture(scope="module")
def native_clustering(plda_dir: Path) -> VBxClustering:
    return VBxClustering(plda_dir, **PARAMS)


def _both(pyannote_clustering, native_clustering, embeddings, segmentations, **counts):
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    window = SlidingWindow(start=0.0, duration=10.0, step=1.0)
    theirs = pyannote_clustering(
        embeddings=embeddings.copy(),
        segmentations=SlidingWindowFeature(segmentations.copy(), window),
        **counts,
    )
    ours = native_clustering(embeddings.copy(), segmentations.copy(), **counts)
    for name, a, b in zip(("hard_clusters", "soft_clusters", "centroids"), ours, theirs):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        assert np.array_equal(a, b, equal_nan=True), name
    return ours


# (speakers in the data, VBx finds), user's (num, min, max) speakers, KMeans expected
CASES = [
    pytest.param(4, (None, None, None), False, id="auto-4"),
    pytest.param(5, (None, None, None), False, id="auto-5-finds-3"),
    pytest.param(4, (2, None, None), True, id="num-below"),
    pytest.param(4, (4, None, None), False, id="num-equal"),
    pytest.param(4, (6, None, None), True, id="num-above"),
    pytest.param(5, (None, 5, None), True, id="min-above"),
    pytest.param(4, (None, None, 2), True, id="max-below"),
    pytest.param(4, (None, 2, 6), False, id="bounds-around"),
]


@pytest.mark.parametrize(("num_speakers", "user_counts", "kmeans"), CASES)
def test_identical_to_pyannote(
    pyannote_clustering, native_clustering, num_speakers, user_counts, kmeans
):
    from pyannote.audio.pipelines.utils.diarization import set_num_speakers

    # The pipeline turns the user's counts into these (None -> 1 / inf, num -> min = max).
    num, low, high = set_num_speakers(*user_counts)
    embeddings, segmentations = _inputs(num_speakers, seed=num_speakers)
    hard, soft, centroids = _both(
        pyannote_clustering,
        native_clustering,
        embeddings,
        segmentations,
        num_clusters=num,
        min_clusters=low,
        max_clusters=high,
    )
    # KMeans turns the constrained assignment (int8, -2 for leftovers) into a plain argmax.
    assert hard.dtype == (np.int64 if kmeans else np.int8)
    assert np.isnan(soft).any()  # NaN embeddings: the NaN handling is exercised
    if num is not None:
        assert len(centroids) == num


def test_identical_with_float64_embeddings_and_raw_counts(pyannote_clustering, native_clustering):
    embeddings, segmentations = _inputs(3, seed=7, dtype=np.float64)
    _both(
        pyannote_clustering,
        native_clustering,
        embeddings,
        segmentations,
        num_clusters=2,
        min_clusters=1,
        max_clusters=math.inf,
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the mean of no embeddings is NaN
@pytest.mark.parametrize("trained", [0, 1])
def test_too_few_training_embeddings_give_one_cluster(
    pyannote_clustering, native_clustering, trained
):
    embeddings, segmentations = _inputs(3, seed=11)
    # Only the first `trained` chunks keep a speaker alone for long enough to train on.
    segmentations[trained:, 100:] = 0
    segmentations[:trained, :, 1:] = 0
    segmentations[:trained, :, 0] = 1
    embeddings[:trained, 0] = 1.0
    hard, soft, centroids = _both(
        pyannote_clustering,
        native_clustering,
        embeddings,
        segmentations,
        num_clusters=None,
        min_clusters=1,
        max_clusters=math.inf,
    )
    assert not hard.any() and soft.shape[2] == 1
    assert np.isnan(centroids).all() == (trained == 0)


def test_import_loads_neither_pyannote_audio_nor_lightning():
    code = (
        "import transcriber_cli.diarize.native.vbx, sys; "
        "print('pyannote.audio' in sys.modules, 'lightning' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_a_capped_training_set_is_the_one_pyannote_gets_capped(plda_dir: Path):
    """``max_train`` keeps the evenly spread subset that ``bound_clustering`` gives
    pyannote's clustering (the AHC's memory bound for long recordings)."""
    from types import SimpleNamespace

    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines.clustering import VBxClustering as PyannoteVBx

    from transcriber_cli.diarize.pyannote_pipeline import bound_clustering

    plda = PLDA.from_pretrained(str(plda_dir))
    reference = PyannoteVBx(plda, metric="cosine")
    reference.instantiate(PARAMS)
    bound_clustering(SimpleNamespace(clustering=reference), limit=40)
    native = VBxClustering(plda_dir, **PARAMS)
    native.max_train = 40
    embeddings, segmentations = _inputs(4, seed=11)
    capped = _both(reference, native, embeddings, segmentations, min_clusters=1,
                   max_clusters=math.inf)  # fmt: skip
    native.max_train = None
    whole = native(embeddings.copy(), segmentations.copy())
    assert not np.array_equal(capped[2], whole[2])  # the cap changed what trained it
