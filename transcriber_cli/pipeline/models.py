"""The models a process keeps loaded: one Whisper engine and one diarizer at a time.

Loading is the slow part, so both are built once and reused for as long as the settings
that shape them stay the same: a local batch loads them once for every file, a worker once
for every job with the same model. Local runs and the worker share this one cache.

The diarizer loads on a thread of its own (importing pyannote and torch alone takes 7-9 s),
so transcription can start as soon as the Whisper model is ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from transcriber_cli.config import Settings
from transcriber_cli.engine.device import release_torch_cache, resolve_device
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
        steps: dict[str, float] | None = None,  # receives the seconds of its steps
    ) -> list[SpeakerTurn]: ...


DiarizerLoad = tuple[Any, "dict | None"]  # (diarizer or None, why it does not run)


class LoadedModels:
    """The Whisper engine, and the diarizer once its load ends: ``diarizer`` and
    ``diarization_note`` wait for it, and raise what loading raised."""

    def __init__(self, engine: WhisperEngine, pending: Future[DiarizerLoad]) -> None:
        self.engine = engine
        self.pending = pending

    @property
    def diarizer(self) -> Diarizer | None:  # None when diarization does not run
        return self.pending.result()[0]

    @property
    def diarization_note(self) -> dict | None:  # why it does not run
        return self.pending.result()[1]

    @property
    def may_diarize(self) -> bool:
        """False once it is known that no diarizer will run (without waiting for a load)."""
        if not self.pending.done():
            return True
        return self.pending.exception() is not None or self.diarizer is not None


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine_key: tuple | None = None
        self._engine: WhisperEngine | None = None
        self._diarizer_key: tuple | None = None
        self._diarizer: Future[DiarizerLoad] | None = None
        # The diarizer's own lock: its load can be asked for while a Whisper model is being
        # built under ``_lock`` (diarization starts beside that build on a GPU).
        self._diarizer_lock = threading.Lock()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-diarizer")

    def diarizer(self, settings: Settings) -> Future[DiarizerLoad]:
        """The diarizer's load for ``settings`` (started here if it is not under way),
        without waiting for it or for a Whisper model being built."""
        return self._diarizer_load(settings, retry=False)[0]

    def _diarizer_load(
        self, s: Settings, *, retry: bool = True
    ) -> tuple[Future[DiarizerLoad], bool]:
        """The load, and whether an earlier diarizer was still loading when it was asked.
        A failed load of the same settings is tried again only with ``retry`` (``get``)."""
        from transcriber_cli.diarize.loader import load_diarizer

        device, _ = resolve_device(s.device, s.compute_type)
        dkey = (
            s.diarize,
            s.diarization_model,
            s.diarization_precision,
            s.diarization_runtime,
            s.diarization_span_minutes,  # the diarizer holds its span
            device,
            s.gpu_index,
            s.embedding_batch_size,
            s.offline,
            s.hf_token.get_secret_value() if s.hf_token else None,
        )
        with self._diarizer_lock:
            last = self._diarizer
            failed = last is not None and last.done() and last.exception() is not None
            if last is not None and self._diarizer_key == dkey and not (failed and retry):
                return last, False  # this very load, under way or done
            # The last load is not cancelled (another job may wait on it): dropped here, its
            # pipeline is freed once no job holds it.
            busy = last is not None and not last.done()  # an earlier diarizer still loading
            self._diarizer = self._loader.submit(load_diarizer, s, device=device)
            self._diarizer_key = dkey
            return self._diarizer, busy

    def get(self, settings: Settings, *, wait: bool = True) -> LoadedModels:
        """The models for ``settings``, loading only what differs from the last call.

        A Whisper model that cannot load raises ``ModelUnavailable``. A diarizer that
        ``diarize = true`` requires but cannot load raises ``DiarizationUnavailable``: here
        with ``wait``, else from the returned models' ``diarizer``."""
        from transcriber_cli.diarize.loader import native_builtin

        s = settings
        with self._lock:
            # The diarizer first: importing pyannote takes longer than loading Whisper, and
            # its device is known before the engine exists.
            pending, busy = self._diarizer_load(s)
            key = (s.model, s.device, s.gpu_index, s.compute_type, s.whisper_encoder,
                   s.cpu_threads, s.model_cache_dir, s.offline, s.decoder_lanes,
                   s.whisper_decoder)  # fmt: skip
            if self._engine_key != key:
                torch_cache = self._engine is not None and "torch" in (
                    self._engine.encoder,
                    self._engine.decoder,
                )
                self._engine = None  # free the old model before loading the next
                self._engine_key = None
                if torch_cache:  # its torch encoder's memory went to torch's cache, not CUDA
                    release_torch_cache()
                # The torch encoder is built during CTranslate2's load unless another
                # diarizer loads beside it (engine/whisper.py says why): the built-in
                # pipeline's load imports only torch, which the build needs as well. Beside
                # other loads (pyannote.audio's import; community-1's) it stays after the load.
                beside = s.diarize is not False and not pending.done()
                loading = busy or (beside and not native_builtin(s))
                self._engine = WhisperEngine.from_settings(s, encoder_meanwhile=not loading)
                self._engine_key = key
            engine = self._engine
            assert engine is not None
        if wait:
            pending.result()  # raises what the load raised
        return LoadedModels(engine, pending)

    def warm_up(self, settings: Settings) -> tuple[float, float] | None:
        """On a GPU, load the models for ``settings``, run the Whisper engine's warm-up
        (``WhisperEngine.warm_up``) and wait for the diarizer's load: the seconds of the
        Whisper load and of the warm-up. A worker
        does it before its first poll, so a fresh machine compiles CTranslate2's kernels
        there (20.5 s on an H100, bench/production.md) instead of inside its first job. None
        on a CPU, where nothing is compiled: the first job loads the models, as before."""
        device, _ = resolve_device(settings.device, settings.compute_type)
        if device != "cuda":
            return None
        started = time.perf_counter()
        models = self.get(settings, wait=False)  # the diarizer goes on loading
        loaded = time.perf_counter() - started
        warmed = models.engine.warm_up()
        # Then every model is in memory, so what is free is what jobs have (the worker sizes
        # its jobs at once by it); a diarizer that fails is the first job's to report.
        futures.wait([models.pending])
        return loaded, warmed
