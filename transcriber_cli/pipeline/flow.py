"""The flow shared by local runs and the worker:
decoded audio -> faster-whisper (in windows) -> diarize -> assign speakers -> plugins.

The audio is an array or a ``media.DecodedAudio``: then each window is read from disk when
its turn comes, and the diarizer gets a memory map, so a long recording is never held whole.

Progress leaves through a callback ``progress(stage, done, total)``; this module never
prints. Raising from the callback (e.g. a cancelled remote job) stops the work. Finished
windows leave through ``on_checkpoint`` and come back as ``resume`` (``windows.py``).

On a GPU, diarization runs on a thread beside transcription (``overlap``): the two share the
GPU, which neither fills alone, and the diarizer may still be loading when transcription
starts. Its progress shows once transcription is done; on a CPU the two take turns, since
each already uses every core.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from transcriber_cli.diarize.assign import assign_speakers
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.media import SAMPLE_RATE, Samples, whole
from transcriber_cli.options import SpeakerOptions, WhisperOptions
from transcriber_cli.pipeline.models import LoadedModels
from transcriber_cli.pipeline.windows import (
    OnCheckpoint,
    WindowCheckpoint,
    next_cut,
    shift,
    window_options,
)
from transcriber_cli.plugins import run_postprocessors
from transcriber_cli.transcript import Transcript

StageProgress = Callable[[str, float, float], None]


class _Abandoned(Exception):
    """Raised inside a diarization whose transcription failed: stop at the next step."""


class _Speakers:
    """Diarization of the whole recording on its own thread; ``result()`` joins it."""

    def __init__(self, models: LoadedModels, audio: Samples, speakers, progress) -> None:
        self.transcribed = threading.Event()  # progress is shown from then on
        self.abandoned = threading.Event()
        self.turns: list | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(
            target=self._run, args=(models, audio, speakers, progress), name="diarize",
            daemon=True,
        )  # fmt: skip
        self._thread.start()

    def _run(self, models: LoadedModels, audio, speakers, progress) -> None:
        def report(done: float, total: float) -> None:
            if self.abandoned.is_set():
                raise _Abandoned
            if progress and self.transcribed.is_set():
                progress("diarize", done, total)

        try:
            diarizer = models.diarizer  # waits for the load
            if diarizer is not None:
                started = time.perf_counter()
                self.turns = diarizer(whole(audio), speakers=speakers, progress=report)
                self.seconds = time.perf_counter() - started
        except BaseException as exc:  # handed to the caller's thread by result()
            self.error = exc

    def result(self) -> list | None:
        self.transcribed.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.turns

    def abandon(self) -> None:
        self.abandoned.set()


def transcribe_audio(
    audio: Samples,
    models: LoadedModels,
    options: WhisperOptions,
    speakers: SpeakerOptions | None = None,
    *,
    progress: StageProgress | None = None,
    source: str | None = None,
    window_seconds: float | None = None,
    resume: WindowCheckpoint | None = None,
    on_checkpoint: OnCheckpoint | None = None,
    overlap: bool | None = None,
    timings: dict[str, float] | None = None,
) -> Transcript:
    """One recording through the flow with the ``models`` a ``ModelCache`` loaded.

    With ``window_seconds`` a long recording is transcribed window by window, each one
    checkpointed; ``resume`` skips what an earlier run finished. ``overlap`` (default: on a
    GPU) diarizes beside transcription. ``timings`` receives each stage's seconds."""

    def stage(name: str) -> Callable[[float, float], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    engine = models.engine
    timings = {} if timings is None else timings
    duration = len(audio) / SAMPLE_RATE
    state = resume.model_copy(deep=True) if resume else WindowCheckpoint()
    if overlap is None:
        overlap = engine.device == "cuda"
    beside = None
    if overlap and state.turns is None and models.may_diarize:
        beside = _Speakers(models, audio, speakers, progress)
    try:  # a failure or Ctrl-C anywhere until diarization is joined stops its thread too
        started = time.perf_counter()
        _transcribe_windows(audio, engine, options, state, progress, window_seconds,
                            on_checkpoint)  # fmt: skip
        timings["transcribe"] = round(time.perf_counter() - started, 3)
        if state.turns is None and (beside is not None or models.may_diarize):
            started = time.perf_counter()
            if beside is not None:
                turns = beside.result()
                if progress and turns is not None:  # done, also when it ended unseen
                    progress("diarize", duration, duration)
                timings["diarize"] = round(beside.seconds, 3)
                timings["diarize_wait"] = round(time.perf_counter() - started, 3)
            else:
                diarizer = models.diarizer
                turns = diarizer(whole(audio), speakers=speakers, progress=stage("diarize")) if (
                    diarizer is not None
                ) else None  # fmt: skip
                timings["diarize"] = round(time.perf_counter() - started, 3)
            if turns is not None:
                state.turns = turns
                if on_checkpoint:
                    on_checkpoint(state, 0.0)
    finally:
        if beside is not None:
            beside.abandon()
    transcript = Transcript(
        language=state.language,
        language_probability=state.language_probability,
        duration=round(duration, 3),
        segments=[s.model_copy(deep=True) for s in state.segments],
        model=engine.name,
    )
    transcript.source = source
    transcript.options = {
        **options.model_dump(),
        "device": engine.device,
        "compute_type": engine.compute_type,
        "batch_size": engine.batch_size(options),
    }
    diarizer = models.diarizer
    if diarizer is not None and state.turns is not None:
        started = time.perf_counter()
        names = speakers.speaker_names if speakers else ()
        transcript = assign_speakers(transcript, state.turns, names)
        transcript.diarization = {"status": "done", "model": diarizer.name}
        timings["assign"] = round(time.perf_counter() - started, 3)
    else:
        note = models.diarization_note
        transcript.diarization = note or {"status": "skipped", "reason": "disabled"}
    return run_postprocessors(transcript)


def _transcribe_windows(
    audio: Samples,
    engine: WhisperEngine,
    options: WhisperOptions,
    state: WindowCheckpoint,
    progress: StageProgress | None,
    window_seconds: float | None,
    on_checkpoint: OnCheckpoint | None,
) -> None:
    """Transcribe from ``state.seconds`` to the end, window by window, into ``state``."""
    duration = len(audio) / SAMPLE_RATE
    window = window_seconds or duration or 1.0
    if progress and state.seconds:
        progress("transcribe", state.seconds, duration)
    while state.seconds < duration - 0.05 or not state.windows:
        start = state.seconds
        end = next_cut(audio, start, window)
        part = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]

        def window_progress(done: float, _total: float, start: float = start) -> None:
            if progress:
                progress("transcribe", min(start + done, duration), duration)

        sequential = engine.batch_size(options) == 1
        result = engine.transcribe(
            part, window_options(options, state, sequential=sequential), window_progress
        )
        after = state.segments[-1].end if state.segments else 0.0  # the seam
        for segment in result.segments:
            moved = shift(segment, start, after)
            if moved is not None:
                moved.id = len(state.segments)
                state.segments.append(moved)
        if not state.windows:
            state.language = result.language
            state.language_probability = result.language_probability
        state.seconds, state.windows = round(end, 3), state.windows + 1
        if on_checkpoint:
            on_checkpoint(state, end - start)
