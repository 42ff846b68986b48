"""faster-whisper transcription: load once, transcribe many arrays, emit our Transcript."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from transcriber_cli.engine.device import resolve_device
from transcriber_cli.engine.models import ResolvedModel, pick_auto_model, resolve_model
from transcriber_cli.errors import ModelUnavailable, SetupError, TranscriberError
from transcriber_cli.media import SAMPLE_RATE
from transcriber_cli.options import WhisperOptions
from transcriber_cli.transcript import Segment, Transcript, Word

if TYPE_CHECKING:
    from transcriber_cli.config import Settings

log = logging.getLogger(__name__)

Progress = Callable[[float, float], None]  # (seconds done, seconds total)
CHUNK_SECONDS = 30


class WhisperEngine:
    """A loaded faster-whisper model. Loading is the slow part: do it once per run."""

    def __init__(
        self,
        model: str = "auto",
        *,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        cache_dir=None,
        offline: bool = False,
    ) -> None:
        self.device, self.compute_type = resolve_device(device, compute_type)
        name = pick_auto_model(self.device) if model == "auto" else model
        self.resolved: ResolvedModel = resolve_model(name, cache_dir=cache_dir, offline=offline)
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        try:
            self.model = WhisperModel(
                self.resolved.path,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=cpu_threads,
            )
        except ValueError as exc:  # e.g. float16 asked for on a CPU
            raise SetupError(f"cannot load model {name!r}: {exc}") from None
        except RuntimeError as exc:
            raise ModelUnavailable(
                f"cannot load model {name!r} on {self.device}: {exc}",
                hint="run 'transcriber doctor'; see docs/gpu.md" if self.device == "cuda" else None,
            ) from None
        self.batched = BatchedInferencePipeline(self.model)

    @classmethod
    def from_settings(cls, settings: Settings) -> WhisperEngine:
        return cls(
            settings.model,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            cache_dir=settings.model_cache_dir,
            offline=settings.offline,
        )

    @property
    def name(self) -> str:
        return self.resolved.name

    def transcribe(
        self, audio: np.ndarray, options: WhisperOptions, progress: Progress | None = None
    ) -> Transcript:
        try:
            return self._transcribe(audio, options, progress)
        except RuntimeError as exc:
            # CTranslate2 loads cuBLAS lazily: a missing CUDA library shows up here, at the
            # first GEMM, not when the model loads. No file can succeed: stop the run.
            text = str(exc)
            if "libcublas" in text or "libcudnn" in text or "cannot be loaded" in text:
                raise ModelUnavailable(
                    f"CTranslate2 cannot use the GPU: {text}",
                    hint="run 'transcriber doctor' for the fix; see docs/gpu.md",
                ) from None
            if "out of memory" in text.lower():
                raise TranscriberError(
                    f"GPU out of memory ({text})", hint="lower --batch-size or use a smaller model"
                ) from None
            raise

    def _transcribe(
        self, audio: np.ndarray, options: WhisperOptions, progress: Progress | None
    ) -> Transcript:
        duration = len(audio) / SAMPLE_RATE
        # The options share faster-whisper's names, except the two that pick the decoding path.
        common = options.model_dump(exclude={"batch_size", "vad"})
        if options.batch_size > 1:
            extra: dict = {"batch_size": options.batch_size, "vad_filter": options.vad}
            if not options.vad:
                # The batched pipeline needs clips when VAD is off: fixed 30 s windows.
                extra["clip_timestamps"] = [
                    {"start": float(s), "end": float(min(s + CHUNK_SECONDS, duration))}
                    for s in np.arange(0, duration, CHUNK_SECONDS)
                ]
            raw_segments, info = self.batched.transcribe(audio, **common, **extra)
        else:
            raw_segments, info = self.model.transcribe(audio, vad_filter=options.vad, **common)

        segments: list[Segment] = []
        for raw in raw_segments:  # a generator: the work happens while iterating
            words = [
                Word(start=w.start, end=w.end, text=w.word, probability=round(w.probability, 4))
                for w in (raw.words or [])
            ]
            segments.append(
                Segment(
                    id=len(segments),
                    start=raw.start,
                    end=raw.end,
                    text=raw.text.strip(),
                    words=words,
                    avg_logprob=raw.avg_logprob,
                    no_speech_prob=raw.no_speech_prob,
                )
            )
            if progress:
                progress(min(raw.end, duration), duration)
        if progress:
            progress(duration, duration)
        segments.sort(key=lambda s: (s.start, s.end))
        for i, seg in enumerate(segments):
            seg.id = i
        return Transcript(
            language=info.language,
            language_probability=round(info.language_probability, 4),
            duration=round(duration, 3),
            segments=segments,
            model=self.name,
        )
