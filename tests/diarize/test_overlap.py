"""Diarization beside transcription (a GPU's default), run here on the CPU: the same
speakers as one after the other, progress in order, and failures that reach the caller."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.errors import DiarizationUnavailable
from transcriber_cli.options import SpeakerOptions, WhisperOptions
from transcriber_cli.pipeline.flow import transcribe_audio
from transcriber_cli.pipeline.models import ModelCache
from transcriber_cli.transcript import Transcript


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    return ModelCache()


def settings(tiny_model: str, pipeline: Path | str) -> Settings:
    return Settings(model=tiny_model, device="cpu", diarize=True,
                    diarization_model=str(pipeline), embedding_batch_size=4)  # fmt: skip


@pytest.fixture(scope="module")
def one_after_the_other(
    cache: ModelCache, tiny_model: str, tiny_pipeline: Path, conversation: dict
) -> tuple[Transcript, dict[str, float]]:
    """The conversation transcribed, then diarized (a CPU's order), and its timings."""
    audio = media.decode_audio(conversation["path"])
    loaded = cache.get(settings(tiny_model, tiny_pipeline))
    timings: dict[str, float] = {}
    after = transcribe_audio(audio, loaded, WhisperOptions(batch_size=8),
                             SpeakerOptions(num_speakers=2), overlap=False,
                             timings=timings)  # fmt: skip
    return after, timings


def test_beside_transcription_gives_the_same_speakers(
    cache: ModelCache, tiny_model: str, tiny_pipeline: Path, conversation: dict,
    one_after_the_other: tuple[Transcript, dict[str, float]],
) -> None:  # fmt: skip
    audio = media.decode_audio(conversation["path"])
    loaded = cache.get(settings(tiny_model, tiny_pipeline), wait=False)
    events: list[tuple[str, float]] = []
    timings: dict[str, float] = {}
    beside = transcribe_audio(
        audio, loaded, WhisperOptions(batch_size=8), SpeakerOptions(num_speakers=2),
        progress=lambda stage, done, _total: events.append((stage, done)),
        overlap=True, timings=timings,
    )  # fmt: skip
    after, alone = one_after_the_other
    assert beside.diarization == after.diarization == {"status": "done",
                                                        "model": str(tiny_pipeline)}  # fmt: skip
    assert beside.turns == after.turns and beside.turns
    assert [(s.text, s.speaker) for s in beside.segments] == [
        (s.text, s.speaker) for s in after.segments
    ]
    # One bar after the other: diarization's progress shows once transcription is done.
    stages = [stage for stage, _ in events]
    assert "diarize" in stages and "transcribe" in stages
    assert stages.index("diarize") > max(i for i, s in enumerate(stages) if s == "transcribe")
    assert {"transcribe", "diarize", "diarize_start", "diarize_wait", "assign"} <= set(timings)
    assert 0 <= timings["diarize_start"] <= timings["transcribe"] + timings["diarize_wait"]
    # The diarizer's own steps, beside transcription or after it: each ran, within its total.
    for run in (timings, alone):
        steps = {k: v for k, v in run.items() if k.startswith("diarize_") and k not in (
            "diarize_start", "diarize_wait")}  # fmt: skip
        assert set(steps) == {"diarize_segmentation", "diarize_embeddings",
                              "diarize_clustering", "diarize_turns"}  # fmt: skip
        assert steps["diarize_segmentation"] > 0 and steps["diarize_embeddings"] > 0
        assert min(steps.values()) >= 0 and sum(steps.values()) <= run["diarize"] + 0.01


def test_a_required_diarizer_that_cannot_load_stops_the_call(
    cache: ModelCache, tiny_model: str, tmp_path: Path, conversation: dict
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text("pipeline:\n  name: no.such.Pipeline\n")
    audio = media.decode_audio(conversation["path"])
    loaded = cache.get(settings(tiny_model, broken), wait=False)  # the load fails later
    with pytest.raises(DiarizationUnavailable, match="broken"):
        transcribe_audio(audio, loaded, WhisperOptions(batch_size=8), overlap=True)


def test_a_failed_transcription_leaves_no_diarization_running(
    cache: ModelCache, tiny_model: str, tiny_pipeline: Path, looped_media
) -> None:
    audio = media.decode_audio(looped_media(4))
    loaded = cache.get(settings(tiny_model, tiny_pipeline))

    class Cancelled(Exception):
        pass

    def cancel(stage: str, done: float, total: float) -> None:
        if stage == "transcribe" and done > 0:
            raise Cancelled  # e.g. a remote job cancelled by its owner

    with pytest.raises(Cancelled):
        transcribe_audio(audio, loaded, WhisperOptions(batch_size=8), progress=cancel,
                         overlap=True)  # fmt: skip
    for thread in threading.enumerate():
        if thread.name == "diarize":
            thread.join(timeout=60)
            assert not thread.is_alive()


def test_another_span_setting_loads_a_diarizer_with_that_span(
    cache: ModelCache, tiny_model: str, tiny_pipeline: Path
) -> None:
    """The diarizer holds its span: a cached one must not serve another span setting."""
    base = settings(tiny_model, tiny_pipeline)
    first = cache.get(base).diarizer
    same = cache.get(base).diarizer
    other = cache.get(base.model_copy(update={"diarization_span_minutes": 5.0})).diarizer
    assert first is same and first is not None and first.span == 3600.0
    assert other is not None and other.span == 300.0


@pytest.mark.parametrize(
    ("diarization", "during"),
    [
        ({"diarization_model": "builtin"}, True),  # imports torch only
        ({"diarization_model": "builtin", "diarization_runtime": "pyannote"}, False),
        ({"diarize": False}, True),
    ],
)
def test_the_torch_encoder_is_built_during_the_load_only_beside_the_builtin_diarizer(
    tiny_model: str, monkeypatch: pytest.MonkeyPatch, diarization: dict, during: bool
) -> None:
    """pyannote.audio's import holds the GIL for seconds: the torch encoder's build waits for
    CTranslate2's load then (the folder was slower otherwise). The built-in pipeline's load
    imports only torch, so beside it (or no diarizer) the build runs on its own thread during
    CTranslate2's load (the folder was faster in 4 of 5 pairs on an H200)."""
    from transcriber_cli.engine import torch_encoder

    threads: list[str] = []
    real = torch_encoder.build_on

    def recorded(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch_encoder, "build_on", recorded)
    asked = {"model": tiny_model, "device": "cpu", "whisper_encoder": "torch", **diarization}
    loaded = ModelCache().get(Settings(**{"diarize": True, **asked}))
    assert loaded.engine.encoder == "torch"
    assert threads == (["build-encoder"] if during else [threading.current_thread().name])


def test_diarization_started_before_the_whisper_load_fills_it(
    tiny_model: str, tiny_pipeline: Path, conversation: dict, monkeypatch: pytest.MonkeyPatch,
    one_after_the_other: tuple[Transcript, dict[str, float]],
) -> None:  # fmt: skip
    """A local run on a GPU starts diarization once the audio is decoded (``diarizer()``
    hands its load over without waiting for Whisper's). With CTranslate2's load made slow
    (injected), diarization makes progress before transcription begins (a negative
    ``diarize_start``), and the speakers are those found after transcription."""
    import time

    import ctranslate2

    from transcriber_cli.pipeline.flow import SpeakersBeside

    real = ctranslate2.models.Whisper

    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(4)  # a large model's load, for this tiny one
        return real(*args, **kwargs)

    monkeypatch.setattr(ctranslate2.models, "Whisper", slow)
    cache = ModelCache()
    asked = settings(tiny_model, tiny_pipeline)
    got: dict = {}
    loading = threading.Thread(target=lambda: got.update(loaded=cache.get(asked, wait=False)))
    loading.start()  # as a device's load thread: the diarizer's load, then Whisper's build
    time.sleep(0.5)
    audio = media.decode_audio(conversation["path"])
    asked_at = time.perf_counter()
    pending = cache.diarizer(asked)  # not held up by the build under the cache's lock
    assert time.perf_counter() - asked_at < 1.0 and loading.is_alive()
    started = SpeakersBeside(pending, audio, SpeakerOptions(num_speakers=2), None)
    loading.join()
    loaded = got["loaded"]
    assert loaded.pending is pending and cache.diarizer(asked) is pending  # one load
    timings: dict[str, float] = {}
    early = transcribe_audio(audio, loaded, WhisperOptions(batch_size=8),
                             SpeakerOptions(num_speakers=2), overlap=True, timings=timings,
                             beside=started)  # fmt: skip
    assert timings["diarize_start"] < -1.0, timings
    after, _ = one_after_the_other
    assert early.turns == after.turns and early.turns
    assert [(s.text, s.speaker) for s in early.segments] == [
        (s.text, s.speaker) for s in after.segments
    ]
