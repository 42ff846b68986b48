"""The native diarizer's frame bookkeeping (diarize/native/frames.py) against pyannote.audio's
own: the same arrays, bit for bit, and the same frame grids, on real speech through the real
segmentation v2 weights (multi-label) and a segmentation-3.0-shaped random powerset model."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from pyannote.audio import Inference
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.utils.diarization import SpeakerDiarizationMixin
from pyannote.audio.utils.signal import binarize as pyannote_binarize
from pyannote.core import SlidingWindow, SlidingWindowFeature
from random_pipeline import _segmentation

from transcriber_cli.diarize.builtin_pyannote import load_segmentation
from transcriber_cli.diarize.native import frames
from transcriber_cli.media import decode_audio

SAMPLE_RATE = 16000
SEGMENTATION_STEP = 0.1  # SpeakerDiarization's default share of a window
THRESHOLD = 0.5  # the multi-label model's, as the realseg and built-in pipelines set it
# audio name -> model name -> chunk count (whole windows + a zero-padded last one)
CHUNKS = {
    "whole": {"v2": "51 + 0", "community": "21 + 0"},  # 30 s: ends on a step
    "ragged": {"v2": "45 + 1", "community": "18 + 1"},  # 27.3 s: a padded last chunk
    "short": {"v2": "0 + 1", "community": "0 + 1"},  # 3.7 s: shorter than a window
}
# (audio, batch size): community-1's 32; 7 divides neither 45 nor 18; the default 1
SLIDES = [("whole", 32), ("ragged", 32), ("ragged", 7), ("short", 1)]


def window(sliding_window: SlidingWindow) -> tuple[float, float, float]:
    return sliding_window.start, sliding_window.duration, sliding_window.step


def assert_same(ours: SlidingWindowFeature, theirs: SlidingWindowFeature) -> None:
    assert ours.data.dtype == theirs.data.dtype
    assert np.array_equal(ours.data, theirs.data, equal_nan=True)
    assert window(ours.sliding_window) == window(theirs.sliding_window)


@pytest.fixture(scope="module")
def audio(pyannote_sample: dict) -> dict[str, torch.Tensor]:
    samples = torch.from_numpy(decode_audio(pyannote_sample["wav"]))[None]
    return {
        "whole": samples,
        "ragged": samples[:, : round(27.3 * SAMPLE_RATE)],
        "short": samples[:, : round(3.7 * SAMPLE_RATE)],
    }


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, Any]]:
    # One thread: beside other busy processes on 2 CPUs, two threads each took 10-40 times
    # longer; both sides run on the same threads, so their results still compare bitwise.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(6)  # this random powerset model finds 0, 1 and 2 speakers in the call
    yield {"v2": load_segmentation(), "community": _segmentation("community").eval()}
    torch.set_num_threads(threads)


def powerset(model: Any) -> tuple[int, int] | None:
    spec = model.specifications
    return (len(spec.classes), spec.powerset_max_classes) if spec.powerset else None


def recorder() -> tuple[list[dict], Callable[..., None]]:
    """A progress hook, and the keyword arguments of each of its calls."""
    calls: list[dict] = []
    return calls, lambda **kwargs: calls.append(kwargs)


@pytest.fixture(scope="module")
def slides(audio: dict, models: dict) -> dict[tuple[str, str, int], tuple]:
    """(model, audio, batch size) -> ours, pyannote's, and the hook calls of each."""
    results = {}
    for name, model in models.items():
        duration = model.specifications.duration
        for audio_name, batch_size in SLIDES:
            (ours_calls, ours_hook), (theirs_calls, theirs_hook) = recorder(), recorder()
            ours = frames.slide(
                model,
                audio[audio_name],
                sample_rate=SAMPLE_RATE,
                duration=duration,
                step=SEGMENTATION_STEP * duration,
                batch_size=batch_size,
                powerset=powerset(model),
                hook=ours_hook,
            )
            # as SpeakerDiarization.__init__ builds its Inference
            inference = Inference(
                model,
                duration=duration,
                step=SEGMENTATION_STEP * duration,
                skip_aggregation=True,
                batch_size=batch_size,
            )
            theirs = inference.slide(audio[audio_name], SAMPLE_RATE, hook=theirs_hook)
            results[name, audio_name, batch_size] = ours, theirs, ours_calls, theirs_calls
    return results


@pytest.mark.parametrize("model", ["v2", "community"])
@pytest.mark.parametrize("audio_name, batch_size", SLIDES)
def test_slide(slides: dict, model: str, audio_name: str, batch_size: int) -> None:
    ours, theirs, our_calls, their_calls = slides[model, audio_name, batch_size]
    assert_same(ours, theirs)
    whole, last = map(int, CHUNKS[audio_name][model].split(" + "))
    assert len(ours) == whole + last
    assert our_calls == their_calls
    # pyannote's last batch reports its full size, more than there were chunks
    assert our_calls[-1]["total"] == whole + last <= our_calls[-1]["completed"]
    if model == "community":  # hard powerset speakers, at most 2 at once
        assert set(np.unique(ours.data)) <= {0.0, 1.0}
        assert ours.data.sum(axis=-1).max() <= 2


def test_receptive_field(models: dict) -> None:
    for model in models.values():
        ours = frames.receptive_field(model, SAMPLE_RATE)
        assert window(ours) == window(model.receptive_field)


@pytest.fixture(scope="module")
def pipeline_inputs(slides: dict, models: dict) -> dict[str, dict]:
    """Per model, what SpeakerDiarization.apply has before reconstructing (ragged audio)."""
    inputs = {}
    for name, model in models.items():
        segmentations = slides[name, "ragged", 32][1]
        if powerset(model):
            binarized = segmentations
        else:
            binarized = pyannote_binarize(segmentations, onset=THRESHOLD, initial_state=False)
        count = SpeakerDiarizationMixin.speaker_count(
            binarized, model.receptive_field, warm_up=(0.0, 0.0)
        )
        inputs[name] = {
            "frames": model.receptive_field,
            "segmentations": segmentations,
            "binarized": binarized,
            "count": count,
        }
    return inputs


def test_binarize(pipeline_inputs: dict) -> None:
    inputs = pipeline_inputs["v2"]
    assert_same(frames.binarize(inputs["segmentations"], THRESHOLD), inputs["binarized"])
    # scores at the threshold (keep the last state), NaN (as 0), and tracks starting there
    rng = np.random.default_rng(0)
    scores = rng.choice([0.2, 0.5, 0.8, np.nan], size=(40, 30, 3), p=[0.3, 0.4, 0.2, 0.1])
    scores[:5, :4] = 0.5
    scores[5:10] = 0.5  # never decided: off throughout
    feature = SlidingWindowFeature(
        scores.astype(np.float32), SlidingWindow(start=0.0, duration=5.0, step=0.5)
    )
    assert_same(
        frames.binarize(feature, 0.5), pyannote_binarize(feature, onset=0.5, initial_state=False)
    )


@pytest.mark.parametrize("model", ["v2", "community"])
def test_speaker_count(pipeline_inputs: dict, model: str) -> None:
    inputs = pipeline_inputs[model]
    ours = frames.speaker_count(inputs["binarized"], inputs["frames"], warm_up=(0.0, 0.0))
    assert_same(ours, inputs["count"])
    assert ours.data.max() >= 1
    trimmed = frames.speaker_count(inputs["binarized"], inputs["frames"], warm_up=(0.1, 0.15))
    theirs = SpeakerDiarizationMixin.speaker_count(
        inputs["binarized"], inputs["frames"], warm_up=(0.1, 0.15)
    )
    assert_same(trimmed, theirs)


@pytest.mark.parametrize("model", ["v2", "community"])
@pytest.mark.parametrize(
    "options",
    [
        {"hamming": True, "missing": 0.0},  # as Inference.slide aggregates
        {"hamming": True, "warm_up": (0.5, 1.0)},
        {"hamming": False, "missing": 0.0, "skip_average": True},
        {"epsilon": 1e-6, "skip_average": False},
    ],
)
def test_aggregate(pipeline_inputs: dict, model: str, options: dict) -> None:
    inputs = pipeline_inputs[model]
    scores = inputs["segmentations"].data.astype(np.float64)
    scores[2:4, :100, 1] = np.nan  # some NaN, as in clustered segmentations
    scores[:, :, 2] = np.nan  # a class with nothing but NaN: `missing`
    chunks = inputs["segmentations"].sliding_window
    ours_in = SlidingWindowFeature(scores.copy(), chunks)
    ours = frames.aggregate(ours_in, inputs["frames"], **options)
    assert np.array_equal(ours_in.data, scores, equal_nan=True)  # left as it was
    theirs = Inference.aggregate(
        SlidingWindowFeature(scores.copy(), chunks), inputs["frames"], **options
    )
    assert_same(ours, theirs)


def clusters(binarized: SlidingWindowFeature, seed: int, num_clusters: int) -> np.ndarray:
    """Random hard clusters, inactive local speakers at -2 as apply sets them, plus a few."""
    num_chunks, _, local_speakers = binarized.data.shape
    rng = np.random.default_rng(seed)
    hard_clusters = rng.integers(0, num_clusters, size=(num_chunks, local_speakers))
    hard_clusters[np.sum(binarized.data, axis=1) == 0] = -2
    hard_clusters[rng.random(hard_clusters.shape) < 0.1] = -2
    hard_clusters[0] = num_clusters - 1  # so np.max(hard_clusters) + 1 == num_clusters
    return hard_clusters


@pytest.mark.parametrize("model", ["v2", "community"])
@pytest.mark.parametrize("num_clusters", [1, 2, 4])
@pytest.mark.parametrize("max_speakers", [np.inf, 2])
def test_reconstruct(
    pipeline_inputs: dict, model: str, num_clusters: int, max_speakers: float
) -> None:
    inputs = pipeline_inputs[model]
    hard_clusters = clusters(inputs["binarized"], num_clusters, num_clusters)
    assert (hard_clusters == -2).any()
    # as apply caps the count: the diarization, then the exclusive one
    count = SlidingWindowFeature(
        np.minimum(inputs["count"].data, max_speakers).astype(np.int8),
        inputs["count"].sliding_window,
    )
    exclusive = SlidingWindowFeature(
        np.minimum(count.data, 1).astype(np.int8), count.sliding_window
    )
    pipeline: Any = SimpleNamespace(to_diarization=SpeakerDiarizationMixin.to_diarization)
    for capped in (count, exclusive):
        ours = frames.reconstruct(inputs["segmentations"], hard_clusters.copy(), capped)
        theirs = SpeakerDiarization.reconstruct(
            pipeline, inputs["segmentations"], hard_clusters.copy(), capped
        )
        assert_same(ours, theirs)
        assert ours.data.sum() > 0
        # more speakers at once than clusters: padded with speakers who never talk
        assert ours.data.shape[1] == max(num_clusters, int(np.max(capped.data)))


@pytest.mark.parametrize("model", ["v2", "community"])
def test_to_diarization(pipeline_inputs: dict, model: str) -> None:
    inputs = pipeline_inputs[model]
    for segmentations in (inputs["binarized"], inputs["segmentations"]):
        ours = frames.to_diarization(segmentations, inputs["count"])
        theirs = SpeakerDiarizationMixin.to_diarization(segmentations, inputs["count"])
        assert_same(ours, theirs)


def test_imports_no_pyannote_audio() -> None:
    code = (
        "import transcriber_cli.diarize.native.frames, sys; "
        "print('pyannote.audio' in sys.modules, 'lightning' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
