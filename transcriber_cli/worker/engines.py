"""Models a worker keeps loaded between jobs: one Whisper engine (and diarizer) at a time.

A task's options name the model it was submitted with; "auto" means the worker's own
choice (its ``model`` setting, resolved for its device). Loading is the slow part, so the
last engine is kept for the next task with the same options.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from transcriber_cli.config import Settings
from transcriber_cli.engine.whisper import WhisperEngine, WhisperOptions
from transcriber_cli.formats import OutputFormat, available_formats
from transcriber_cli.pipeline import DiarizeOptions

# Task options that map straight onto settings of the same name.
_SETTING_KEYS = (
    "language",
    "task",
    "beam_size",
    "batch_size",
    "vad",
    "word_timestamps",
    "initial_prompt",
    "hotwords",
    "diarize",
    "diarization_model",
)


@dataclass
class LoadedModels:
    engine: WhisperEngine
    whisper_options: WhisperOptions
    diarizer: Any
    diarization_note: dict | None
    diarize_options: DiarizeOptions


def task_settings(base: Settings, options: dict) -> Settings:
    update = {k: options[k] for k in _SETTING_KEYS if k in options}
    for key in ("model", "compute_type"):
        if options.get(key) not in (None, "auto"):
            update[key] = options[key]
    return base.model_copy(update=update)


class EngineCache:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._engine_key: tuple | None = None
        self._engine: WhisperEngine | None = None
        self._diarizer_key: tuple | None = None
        self._diarizer: tuple[Any, dict | None] = (None, None)

    def formats(self) -> list[OutputFormat]:
        """Every registered format, so a reused task can serve any later ``-f`` choice."""
        return list(available_formats().values())

    def get(self, options: dict) -> LoadedModels:
        from transcriber_cli.batch import whisper_options
        from transcriber_cli.diarize.loader import load_diarizer

        s = task_settings(self.settings, options)
        diarize_options = DiarizeOptions(
            num_speakers=options.get("num_speakers"),
            min_speakers=options.get("min_speakers"),
            max_speakers=options.get("max_speakers"),
            speaker_names=tuple(options.get("speaker_names") or ()),
        )
        with self._lock:
            key = (s.model, s.device, s.compute_type, s.cpu_threads)
            if self._engine_key != key:
                self._engine = None  # free the old model before loading the next
                self._engine = WhisperEngine.from_settings(s)
                self._engine_key = key
            engine = self._engine
            assert engine is not None
            dkey = (s.diarize, s.diarization_model, engine.device)
            if self._diarizer_key != dkey:
                self._diarizer = load_diarizer(s, diarize_options, device=engine.device)
                self._diarizer_key = dkey
            diarizer, note = self._diarizer
        return LoadedModels(engine, whisper_options(s), diarizer, note, diarize_options)
