"""Frames to turns by their runs' edges (diarize/binarize.py): the same annotation as
pyannote's ``to_annotation``, on generated frames and in whole diarizations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.core import SlidingWindow, SlidingWindowFeature
from speaker_frames import speaker_frames

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.binarize import to_annotation, use_run_edges
from transcriber_cli.diarize.loader import load_diarizer

# community-1's segmentation frames
FRAMES = SlidingWindow(start=0.0, duration=0.0619375, step=0.016875)


def frames(seed: int) -> np.ndarray:
    """Generated frames of 2-3000 frames and 1-5 speakers; some all talking, some silent."""
    rng = np.random.default_rng(seed)
    data = speaker_frames(int(rng.integers(2, 3000)), int(rng.integers(1, 6)), seed)
    if seed % 7 == 0:
        data[:] = 1
    if seed % 11 == 0:
        data[:] = 0
    return data


def tracks(annotation) -> list:
    return list(annotation.itertracks(yield_label=True))


@pytest.mark.parametrize("on, off", [(0.0, 0.0), (0.1, 0.0), (0.0, 0.3), (0.05, 0.2)])
def test_the_same_annotation_as_pyannote(on: float, off: float, monkeypatch) -> None:
    cases = []
    for seed in range(60):
        data = frames(seed)
        labels = None if seed % 2 else [f"s{k}" for k in range(data.shape[1])]
        feature = SlidingWindowFeature(data, FRAMES, labels=labels)
        cases.append((feature, tracks(SpeakerDiarization.to_annotation(feature, on, off))))

    def pyannotes(*args, **kwargs):
        raise AssertionError("0/1 frames take the runs' edges, not pyannote's loop")

    monkeypatch.setattr(SpeakerDiarization, "to_annotation", staticmethod(pyannotes))
    for seed, (feature, expected) in enumerate(cases):
        assert tracks(to_annotation(feature, on, off)) == expected, seed
    monkeypatch.undo()
    edges = np.zeros((5, 2), dtype=np.int8)
    edges[0, 0] = edges[4, 1] = edges[2:, 0] = 1  # a run at the start, one to the end
    feature = SlidingWindowFeature(edges, FRAMES)
    found = tracks(to_annotation(feature))
    assert found == tracks(SpeakerDiarization.to_annotation(feature))
    # the second speaker's run, on the last frame alone, is empty: no segment
    assert [(round(s.start, 6), round(s.end, 6), label) for s, _, label in found] == [
        (0.030969, 0.047844, 0),
        (0.064719, 0.098469, 0),
    ]


def test_scores_and_a_single_frame_are_left_to_pyannote() -> None:
    # 0.5 keeps the state before it (pyannote's thresholds with memory); NaN likewise.
    scores = np.array([[0.9], [0.5], [0.2], [0.5], [np.nan], [0.7], [0.1]])
    feature = SlidingWindowFeature(scores, FRAMES)
    found = tracks(to_annotation(feature))
    assert found == tracks(SpeakerDiarization.to_annotation(feature)) and len(found) == 2
    single = SlidingWindowFeature(np.zeros((1, 2), dtype=np.int8), FRAMES)
    assert tracks(to_annotation(single)) == []


def test_pipelines_get_it_unless_they_bring_their_own(tiny_pipeline: Path) -> None:
    diarizer, _ = load_diarizer(
        Settings(diarize=True, diarization_model=str(tiny_pipeline)), device="cpu"
    )
    assert diarizer.pipeline.to_annotation is to_annotation

    class Own(SpeakerDiarization):
        @staticmethod
        def to_annotation(discrete_diarization, min_duration_on=0.0, min_duration_off=0.0):
            raise AssertionError("not called here")

    own = Own.__new__(Own)
    assert not use_run_edges(own) and "to_annotation" not in vars(own)


@pytest.mark.parametrize("model", ["builtin", "realseg"])
def test_whole_diarizations_give_the_same_turns(
    model: str, realseg_pipeline: Path, pyannote_sample: dict
) -> None:
    """On pyannote's sample (real voices), with real segmentation weights (the realseg
    pipeline's embedding is random): the turns with pyannote's own ``to_annotation`` restored
    are the same."""
    name = "builtin" if model == "builtin" else str(realseg_pipeline)
    # pyannote.audio's runtime: its pipelines are the ones whose to_annotation is replaced
    settings = Settings(diarize=True, diarization_model=name, diarization_runtime="pyannote")
    diarizer, _ = load_diarizer(settings, device="cpu")
    audio = media.decode_audio(pyannote_sample["wav"])
    ours = diarizer(audio)
    assert diarizer.pipeline.to_annotation is to_annotation
    del diarizer.pipeline.to_annotation  # the class's, i.e. pyannote's
    theirs = diarizer(audio)
    assert len(ours) >= 3 and ours == theirs
    if model == "builtin":  # real speaker weights too: the call's two voices
        assert len({t.speaker for t in ours}) == 2 and len(ours) > 5
