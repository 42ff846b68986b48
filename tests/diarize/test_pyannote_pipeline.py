"""The pyannote adapter in process: loading, settings it applies, progress, output handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.loader import load_diarizer
from transcriber_cli.diarize.pyannote_pipeline import turns_from_output
from transcriber_cli.options import SpeakerOptions
from transcriber_cli.transcript import SpeakerTurn


@pytest.fixture(scope="module")
def loaded(tiny_pipeline: Path):
    settings = Settings(diarize=True, diarization_model=str(tiny_pipeline), embedding_batch_size=4)
    diarizer, note = load_diarizer(settings, device="cpu")
    assert note is None
    return diarizer


def test_loader_applies_settings(loaded, tiny_pipeline: Path):
    assert loaded.name == str(tiny_pipeline)
    assert loaded.device == "cpu"
    assert loaded.pipeline.embedding_batch_size == 4  # config.yaml says 32: the setting wins
    assert loaded.pipeline.segmentation_batch_size == 4


class RecordingPipeline:
    """Wraps the real pyannote pipeline and records the keyword arguments of each call
    (random weights make the labels themselves identical whatever the counts)."""

    def __init__(self, pipeline) -> None:
        self.pipeline, self.calls = pipeline, []

    def __call__(self, file, **kwargs):
        self.calls.append({k: v for k, v in kwargs.items() if k != "hook"})
        return self.pipeline(file, **kwargs)


def test_one_loaded_pipeline_takes_each_calls_speaker_counts(loaded, pyannote_sample: dict):
    """A worker keeps one diarizer for many jobs: each job's counts must reach pyannote."""
    audio = media.decode_audio(pyannote_sample["wav"])[: 8 * media.SAMPLE_RATE]
    real = loaded.pipeline
    loaded.pipeline = RecordingPipeline(real)
    try:
        loaded(audio, speakers=SpeakerOptions(num_speakers=2))
        loaded(audio, speakers=SpeakerOptions(min_speakers=1, max_speakers=3))
        loaded(audio)
    finally:
        calls, loaded.pipeline = loaded.pipeline.calls, real
    assert calls == [{"num_speakers": 2}, {"min_speakers": 1, "max_speakers": 3}, {}]


def test_diarizes_the_pyannote_sample_with_progress(loaded, pyannote_sample: dict):
    audio = media.decode_audio(pyannote_sample["wav"])
    seconds = audio.size / media.SAMPLE_RATE
    calls: list[tuple[float, float]] = []
    turns = loaded(audio, progress=lambda done, total: calls.append((done, total)))
    assert turns and all(isinstance(t, SpeakerTurn) for t in turns)
    assert all(0.0 <= t.start < t.end <= seconds for t in turns)
    assert [t.start for t in turns] == sorted(t.start for t in turns)
    assert {t.speaker for t in turns} <= {f"SPEAKER_{i:02d}" for i in range(3)}
    # One bar in audio seconds: monotonic, ends full, with steps from both pyannote stages.
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and calls[-1] == (seconds, seconds)
    assert {total for _, total in calls} == {seconds}
    assert len([d for d in dones if 0.25 * seconds < d < seconds]) >= 3  # embedding batches


def test_empty_audio_has_no_turns(loaded):
    assert loaded(np.zeros(0, dtype=np.float32)) == []


def test_turns_from_pyannote_outputs_are_exclusive_sorted_and_clipped():
    from pyannote.audio.pipelines.speaker_diarization import DiarizeOutput
    from pyannote.core import Annotation, Segment

    full = Annotation()
    full[Segment(0.0, 5.0)] = "SPEAKER_00"
    full[Segment(4.0, 9.0)] = "SPEAKER_01"  # overlaps SPEAKER_00
    exclusive = Annotation()
    exclusive[Segment(4.5, 12.0)] = "SPEAKER_01"
    exclusive[Segment(0.0, 4.5)] = "SPEAKER_00"
    exclusive[Segment(-0.2, 0.0)] = "SPEAKER_00"  # nothing left after clipping
    out = DiarizeOutput(speaker_diarization=full, exclusive_speaker_diarization=exclusive)
    assert turns_from_output(out, duration=10.0) == [
        SpeakerTurn(start=0.0, end=4.5, speaker="SPEAKER_00"),
        SpeakerTurn(start=4.5, end=10.0, speaker="SPEAKER_01"),
    ]
    # A legacy pipeline returns the Annotation itself.
    assert turns_from_output(full) == [
        SpeakerTurn(start=0.0, end=5.0, speaker="SPEAKER_00"),
        SpeakerTurn(start=4.0, end=9.0, speaker="SPEAKER_01"),
    ]


def test_auto_mode_turns_a_broken_directory_into_a_note(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("pipeline: {name: not.a.Pipeline}\n")
    diarizer, note = load_diarizer(Settings(diarization_model=str(tmp_path)), device="cpu")
    assert diarizer is None
    assert note["status"] == "skipped"
    assert note["reason"].startswith(f"cannot load the diarization pipeline in {tmp_path}")


def test_clustering_trains_on_a_bounded_spread_of_embeddings(
    realseg_pipeline: Path, pyannote_sample: dict, monkeypatch
):
    """pyannote's AHC holds a distance for every pair of training embeddings: past the cap an
    evenly spread subset trains the clustering, and every chunk is still labelled."""
    from pyannote.audio.pipelines import clustering as pyannote_clustering

    from transcriber_cli.diarize import pyannote_pipeline

    observed: list[int] = []
    linkage = pyannote_clustering.linkage

    def counting_linkage(x, *args, **kwargs):  # observe the library call; ours runs as is
        observed.append(len(x))
        return linkage(x, *args, **kwargs)

    monkeypatch.setattr(pyannote_clustering, "linkage", counting_linkage)
    audio = media.decode_audio(pyannote_sample["wav"])
    settings = Settings(diarize=True, diarization_model=str(realseg_pipeline))
    unbounded, _ = load_diarizer(settings, device="cpu")
    full_turns = unbounded(audio)
    (everything,) = observed
    assert everything > 20  # the sample gives enough embeddings for the cap to bite

    monkeypatch.setattr(pyannote_pipeline, "MAX_CLUSTERED_EMBEDDINGS", 10)
    bounded, _ = load_diarizer(settings, device="cpu")
    turns = bounded(audio)
    assert observed[1:] == [10]
    # Segmentation is untouched: speech is found where it was, only the labels may move.
    speech = sum(t.end - t.start for t in turns)
    assert speech == pytest.approx(sum(t.end - t.start for t in full_turns), rel=0.05)
    assert turns[0].start == pytest.approx(full_turns[0].start, abs=0.1)


def test_each_call_gets_its_own_warnings_while_calls_run_at_once(caplog, capsys) -> None:
    """Two diarizers (two GPUs) run at once; each call's count warning is logged once for
    that call, nothing reaches stderr, and no warning state is left behind."""
    import threading
    import time
    import warnings

    import torch  # imported first: importing it adds warning filters of its own
    from pyannote.core import Annotation, Segment

    from transcriber_cli.diarize import pyannote_pipeline as pp

    assert torch

    class Talker:
        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(self, file, hook=None, **counts):
            for _ in range(3):  # the same warning each time: "always", not once per place
                message = f"The detected number of speakers for {self.name} is outside"
                warnings.warn(message, stacklevel=2)
                time.sleep(0.05)
            out = Annotation()
            out[Segment(0, 1)] = self.name
            return out

    audio = np.zeros(16000, np.float32)
    with warnings.catch_warnings():  # pytest swaps showwarning per test: route as the CLI does
        pp._route_warnings()
        diarizers = [pp.PyannoteDiarizer(Talker(n), name=n, device="cpu") for n in ("a", "b")]
        filters, shown = list(warnings.filters), warnings.showwarning
        with caplog.at_level("WARNING", logger="transcriber_cli.diarize"):
            threads = [threading.Thread(target=d, args=(audio,)) for d in diarizers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        # Nothing left behind (overlapping catch_warnings blocks restore each other's state).
        assert warnings.filters == filters and warnings.showwarning is shown
        assert getattr(pp._local, "caught", None) is None
    said = [r.getMessage() for r in caplog.records if r.name.startswith("transcriber_cli")]
    assert sorted(said) == sorted([f"diarization: The detected number of speakers for {n} is "
                                   "outside" for n in "ab" for _ in range(3)])  # fmt: skip
    assert "number of speakers" not in capsys.readouterr().err
