"""The flow shared by local mode and the worker:
probe -> decode (16 kHz mono) -> faster-whisper -> diarize -> assign speakers -> plugins.

Progress leaves through a callback ``progress(stage, done, total)``; this module never
prints. Raising from the callback (e.g. a cancelled remote job) stops the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from transcriber_cli import media
from transcriber_cli.diarize.assign import assign_speakers
from transcriber_cli.engine.whisper import WhisperEngine, WhisperOptions
from transcriber_cli.errors import InputError
from transcriber_cli.transcript import SpeakerTurn, Transcript

StageProgress = Callable[[str, float, float], None]


class Diarizer(Protocol):
    name: str

    def __call__(
        self, audio: np.ndarray, *, progress: Callable[[float, float], None] | None = None
    ) -> list[SpeakerTurn]: ...


@dataclass(frozen=True)
class DiarizeOptions:
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    speaker_names: tuple[str, ...] = ()


@dataclass
class PipelineResult:
    transcript: Transcript
    info: media.MediaInfo | None = None
    timings: dict[str, float] = field(default_factory=dict)


def check_duration(info: media.MediaInfo, max_hours: float) -> None:
    if info.duration > max_hours * 3600:
        raise InputError(
            f"{info.path}: {_clock(info.duration)} long, over the {_clock(max_hours * 3600)} "
            "limit (raise max_duration_hours to allow it)"
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def transcribe_audio(
    audio: np.ndarray,
    *,
    engine: WhisperEngine,
    options: WhisperOptions,
    diarizer: Diarizer | None = None,
    diarize_options: DiarizeOptions | None = None,
    diarization_note: dict | None = None,
    progress: StageProgress | None = None,
    source: str | None = None,
) -> Transcript:
    def stage(name: str) -> Callable[[float, float], None] | None:
        return (lambda done, total: progress(name, done, total)) if progress else None

    transcript = engine.transcribe(audio, options, progress=stage("transcribe"))
    transcript.source = source
    transcript.options = {
        **asdict(options),
        "device": engine.device,
        "compute_type": engine.compute_type,
    }
    if diarizer is not None:
        turns = diarizer(audio, progress=stage("diarize"))
        names: Sequence[str] = diarize_options.speaker_names if diarize_options else ()
        transcript = assign_speakers(transcript, turns, names)
        transcript.diarization = {"status": "done", "model": diarizer.name}
    else:
        transcript.diarization = diarization_note or {"status": "skipped", "reason": "disabled"}
    return run_postprocessors(transcript)


def run_postprocessors(transcript: Transcript) -> Transcript:
    from transcriber_cli.plugins import get_plugin_manager

    # Chain the plugins: each sees the previous one's result (pluggy would give each the original).
    for impl in reversed(get_plugin_manager().hook.process_transcript.get_hookimpls()):
        replacement = impl.function(transcript=transcript)
        if isinstance(replacement, Transcript):
            transcript = replacement
    return transcript


def transcribe_file(
    path: Path,
    *,
    engine: WhisperEngine,
    options: WhisperOptions,
    max_duration_hours: float = 24.0,
    info: media.MediaInfo | None = None,
    **kwargs,
) -> PipelineResult:
    info = info or media.probe(path)
    check_duration(info, max_duration_hours)
    audio = media.decode_audio(path)
    transcript = transcribe_audio(audio, engine=engine, options=options, source=path.name, **kwargs)
    return PipelineResult(transcript=transcript, info=info)
