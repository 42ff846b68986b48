"""The flow shared by local runs and the worker:
decoded audio -> faster-whisper (in windows) -> diarize -> assign speakers -> plugins.

Progress leaves through a callback ``progress(stage, done, total)``; this module never
prints. Raising from the callback (e.g. a cancelled remote job) stops the work. Finished
windows leave through ``on_checkpoint`` and come back as ``resume`` (``windows.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from transcriber_cli.diarize.assign import assign_speakers
from transcriber_cli.media import SAMPLE_RATE
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


def transcribe_audio(
    audio: np.ndarray,
    models: LoadedModels,
    options: WhisperOptions,
    speakers: SpeakerOptions | None = None,
    *,
    progress: StageProgress | None = None,
    source: str | None = None,
    window_seconds: float | None = None,
    resume: WindowCheckpoint | None = None,
    on_checkpoint: OnCheckpoint | None = None,
) -> Transcript:
    """One recording through the flow with the ``models`` a ``ModelCache`` loaded.

    With ``window_seconds`` a long recording is transcribed window by window, each one
    checkpointed; ``resume`` skips what an earlier run finished."""

    def stage(name: str) -> Callable[[float, float], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    engine, diarizer = models.engine, models.diarizer
    duration = len(audio) / SAMPLE_RATE
    state = resume.model_copy(deep=True) if resume else WindowCheckpoint()
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

        result = engine.transcribe(part, window_options(options, state), window_progress)
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
    }
    if diarizer is not None:
        turns = state.turns
        if turns is None:
            turns = diarizer(audio, speakers=speakers, progress=stage("diarize"))
            state.turns = turns
            if on_checkpoint:
                on_checkpoint(state, 0.0)
        names = speakers.speaker_names if speakers else ()
        transcript = assign_speakers(transcript, turns, names)
        transcript.diarization = {"status": "done", "model": diarizer.name}
    else:
        note = models.diarization_note
        transcript.diarization = note or {"status": "skipped", "reason": "disabled"}
    return run_postprocessors(transcript)
