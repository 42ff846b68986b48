"""The flow shared by local runs and the worker:
decoded audio -> faster-whisper -> diarize -> assign speakers -> post-processing plugins.

Progress leaves through a callback ``progress(stage, done, total)``; this module never
prints. Raising from the callback (e.g. a cancelled remote job) stops the work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from transcriber_cli.diarize.assign import assign_speakers
from transcriber_cli.options import SpeakerOptions, WhisperOptions
from transcriber_cli.pipeline.models import LoadedModels
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
) -> Transcript:
    """One recording through the flow with the ``models`` a ``ModelCache`` loaded."""

    def stage(name: str) -> Callable[[float, float], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    engine, diarizer = models.engine, models.diarizer
    transcript = engine.transcribe(audio, options, progress=stage("transcribe"))
    transcript.source = source
    transcript.options = {
        **options.model_dump(),
        "device": engine.device,
        "compute_type": engine.compute_type,
    }
    if diarizer is not None:
        turns = diarizer(audio, speakers=speakers, progress=stage("diarize"))
        names = speakers.speaker_names if speakers else ()
        transcript = assign_speakers(transcript, turns, names)
        transcript.diarization = {"status": "done", "model": diarizer.name}
    else:
        note = models.diarization_note
        transcript.diarization = note or {"status": "skipped", "reason": "disabled"}
    return run_postprocessors(transcript)
