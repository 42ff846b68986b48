"""The models a process keeps loaded: one Whisper engine and one diarizer at a time.

Loading is the slow part, so both are built once and reused for as long as the settings
that shape them stay the same: a local batch loads them once for every file, a worker once
for every job with the same model. Local runs and the worker share this one cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from transcriber_cli.config import Settings
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.options import SpeakerOptions
from transcriber_cli.transcript import SpeakerTurn


class Diarizer(Protocol):
    """What a diarization pipeline adapter offers the flow: audio in, speaker turns out."""

    name: str

    def __call__(
        self,
        audio: np.ndarray,
        *,
        speakers: SpeakerOptions | None = None,
        progress: Callable[[float, float], None] | None = None,
    ) -> list[SpeakerTurn]: ...


@dataclass
class LoadedModels:
    engine: WhisperEngine
    diarizer: Diarizer | None  # None when diarization does not run
    diarization_note: dict | None  # why it does not run


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine_key: tuple | None = None
        self._engine: WhisperEngine | None = None
        self._diarizer_key: tuple | None = None
        self._diarizer: tuple[Any, dict | None] = (None, None)

    def get(self, settings: Settings) -> LoadedModels:
        """The models for ``settings``, loading only what differs from the last call.

        A diarizer that ``diarize = true`` requires but cannot load raises
        ``DiarizationUnavailable``, a Whisper model that cannot load ``ModelUnavailable``."""
        from transcriber_cli.diarize.loader import load_diarizer

        s = settings
        with self._lock:
            key = (s.model, s.device, s.compute_type, s.cpu_threads, s.model_cache_dir, s.offline)
            if self._engine_key != key:
                self._engine = None  # free the old model before loading the next
                self._engine_key = None
                self._engine = WhisperEngine.from_settings(s)
                self._engine_key = key
            engine = self._engine
            assert engine is not None
            dkey = (
                s.diarize,
                s.diarization_model,
                engine.device,
                s.embedding_batch_size,
                s.offline,
                s.hf_token.get_secret_value() if s.hf_token else None,
            )
            if self._diarizer_key != dkey:
                self._diarizer = (None, None)
                self._diarizer_key = None
                self._diarizer = load_diarizer(s, device=engine.device)
                self._diarizer_key = dkey
            diarizer, note = self._diarizer
        return LoadedModels(engine, diarizer, note)
