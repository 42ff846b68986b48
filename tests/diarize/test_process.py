"""Diarization in a process of its own (a GPU's default on Linux), run here on the CPU: the
same speakers as in-process, from a decoded file or an array; settings and secrets never on
its command line or in its environment; a cancel, a kill (a real SIGKILL) and a load that
fails all reach the caller, and the next call still works."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.diarize.process import DiarizationFailed, ProcessDiarizer
from transcriber_cli.errors import DiarizationUnavailable
from transcriber_cli.options import SpeakerOptions, WhisperOptions
from transcriber_cli.pipeline.flow import transcribe_audio
from transcriber_cli.pipeline.models import ModelCache

TOKEN = "hf_processTokenThatMustNotLeak1234"
TWO = SpeakerOptions(num_speakers=2)


def settings(tiny_model: str, pipeline: Path | str, *, process: bool) -> Settings:
    return Settings(model=tiny_model, device="cpu", diarize=True, hf_token=TOKEN,
                    diarization_model=str(pipeline), embedding_batch_size=4,
                    diarization_process=process)  # fmt: skip


@pytest.fixture(scope="module")
def in_process(tiny_model: str, tiny_pipeline: Path):
    """The models with the diarizer in a child; one child for the module."""
    return ModelCache().get(settings(tiny_model, tiny_pipeline, process=True))


def test_a_child_finds_the_same_speakers_without_seeing_secrets(
    in_process, tiny_model: str, tiny_pipeline: Path, conversation: dict
) -> None:
    diarizer = in_process.diarizer
    assert isinstance(diarizer, ProcessDiarizer) and diarizer.pid != os.getpid()
    here = ModelCache().get(settings(tiny_model, tiny_pipeline, process=False))
    assert not isinstance(here.diarizer, ProcessDiarizer)

    decoded = media.decode(conversation["path"])  # goes to the child as its file's descriptor
    events: list[tuple[str, float]] = []
    child = transcribe_audio(
        decoded, in_process, WhisperOptions(batch_size=8), TWO, overlap=True,
        progress=lambda stage, done, _total: events.append((stage, done)),
    )  # fmt: skip
    parent = transcribe_audio(decoded, here, WhisperOptions(batch_size=8), TWO, overlap=False)
    assert child.diarization == {"status": "done", "model": str(tiny_pipeline)}
    assert child.turns == parent.turns and child.turns[-1].end > 25  # random weights: 1 voice
    assert [(s.text, s.speaker) for s in child.segments] == [
        (s.text, s.speaker) for s in parent.segments
    ]
    duration = len(decoded) / media.SAMPLE_RATE
    assert ("diarize", duration) in events  # the child's progress reached this process

    array = media.decode_audio(conversation["path"])  # an array goes through a memfd
    assert diarizer(array, speakers=TWO) == parent.turns

    # The settings (and the token in them) went over the socket, not argv or the environment.
    proc = Path(f"/proc/{diarizer.pid}")
    assert TOKEN.encode() not in (proc / "cmdline").read_bytes()
    assert TOKEN.encode() not in (proc / "environ").read_bytes()


def test_a_cancel_stops_the_child_and_it_serves_the_next_recording(
    in_process, looped_media
) -> None:
    diarizer = in_process.diarizer
    pid = diarizer.pid
    audio = media.decode(looped_media(4))
    calls: list[float] = []

    class Cancelled(Exception):
        pass

    def cancel(done: float, total: float) -> None:
        calls.append(done)
        raise Cancelled  # e.g. a remote job cancelled by its owner

    with pytest.raises(Cancelled):
        diarizer(audio, speakers=TWO, progress=cancel)
    assert len(calls) == 1  # the rest of its progress is not reported
    turns = diarizer(audio, speakers=TWO)
    assert diarizer.pid == pid and turns and turns[-1].end > 100


@pytest.mark.slow
def test_a_killed_child_fails_its_recording_and_the_next_call_starts_another(
    tiny_model: str, tiny_pipeline: Path, looped_media
) -> None:
    loaded = ModelCache().get(settings(tiny_model, tiny_pipeline, process=True))
    diarizer = loaded.diarizer
    first = diarizer.pid
    audio = media.decode(looped_media(4))

    def kill(done: float, total: float) -> None:
        if done < total:
            os.kill(first, signal.SIGKILL)

    with pytest.raises(DiarizationFailed, match="killed by signal 9"):
        diarizer(audio, speakers=TWO, progress=kill)
    turns = diarizer(audio, speakers=TWO)
    assert diarizer.pid != first and turns and turns[-1].end > 100
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # reaped, not left a zombie


@pytest.mark.slow
def test_a_load_that_fails_in_the_child_raises_here(
    tiny_model: str, tmp_path: Path, conversation: dict
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text("pipeline:\n  name: no.such.Pipeline\n")
    loaded = ModelCache().get(settings(tiny_model, broken, process=True), wait=False)
    audio = media.decode(conversation["path"])
    with pytest.raises(DiarizationUnavailable, match="broken"):
        transcribe_audio(audio, loaded, WhisperOptions(batch_size=8), overlap=True)
