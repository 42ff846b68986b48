"""Local runs: find inputs, skip what is done, transcribe the rest here, write outputs.

One bad file never stops a batch: its error is recorded and the next file runs. The models
load once, in the background from the first file that needs them (overlapping its hashing
and decoding), and only if some file needs work: a rerun that skips everything starts
instantly. A long file is checkpointed window by window in the manifest; a rerun after a
stop goes on from the last finished window and says so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from transcriber_cli.config import Settings
from transcriber_cli.errors import (
    DiarizationUnavailable,
    ModelUnavailable,
    TranscriberError,
    with_doctor_hint,
)
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.jobs.batch import Batch, Item
from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.outputs import render
from transcriber_cli.jobs.results import FileResult, ResultSummary, clock
from transcriber_cli.local.readahead import MAX_AHEAD_SECONDS, ReadAhead
from transcriber_cli.media import DecodedAudio, InputChanged
from transcriber_cli.pipeline.flow import transcribe_audio
from transcriber_cli.pipeline.models import LoadedModels, ModelCache
from transcriber_cli.pipeline.windows import WindowCheckpoint


class Reporter(Protocol):
    def batch_started(self, total: int) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_progress(self, stage: str, done: float, total: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    def batch_started(self, total: int) -> None: ...
    def file_started(self, path: Path, duration: float) -> None: ...
    def file_progress(self, stage: str, done: float, total: float) -> None: ...
    def file_finished(self, result: FileResult) -> None: ...
    def note(self, text: str) -> None: ...


def resume_key(settings: Settings, options: JobOptions) -> str:
    """The options key plus what decides the result on this machine: the model ``auto``
    resolves to, and in auto diarization mode whether a pipeline is reachable (a file done
    without speakers is redone once one is)."""
    from transcriber_cli.engine.models import model_for

    extra: dict[str, object] = {"model": model_for(settings.model, settings.device)}
    if settings.audio_stream is not None:  # another stream is another recording
        extra["audio_stream"] = settings.audio_stream
    if options.diarize is None:
        from transcriber_cli.diarize.loader import pipeline_reachable

        extra["diarize_reachable"] = pipeline_reachable(settings)
    return options.key(**extra)


class LocalRunner:
    def __init__(
        self,
        settings: Settings,
        options: JobOptions,
        formats: Sequence[OutputFormat],
        *,
        output_dir: Path | None = None,
        overwrite: bool = False,
        reporter: Reporter | None = None,
        models: ModelCache | None = None,
    ) -> None:
        self.settings = options.apply(settings)
        self.options = options
        self.formats = list(formats)
        self.output_dir = output_dir
        self.overwrite = overwrite
        self.reporter = reporter or NullReporter()
        self.models = models or ModelCache()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-models")
        self._loading: Future[LoadedModels] | None = None
        # Reads the next file while this one transcribes (never one over the length limit).
        self.readahead = ReadAhead(
            min(MAX_AHEAD_SECONDS, settings.max_duration_hours * 3600), settings.audio_stream
        )

    def _load(self) -> LoadedModels:
        self.reporter.note(f"loading model {self.settings.model}")
        # The diarizer goes on loading while the first file is transcribed.
        loaded = self.models.get(self.settings, wait=False)
        engine = loaded.engine
        self.reporter.note(f"model {engine.name} on {engine.device} ({engine.compute_type})")

        def skipped(_done: object) -> None:
            if not loaded.pending.exception() and loaded.diarization_note:
                self.reporter.note(f"diarization skipped: {loaded.diarization_note['reason']}")

        loaded.pending.add_done_callback(skipped)
        return loaded

    def _start_loading(self) -> None:
        if self._loading is None:
            self._loading = self._loader.submit(self._load)

    def _loaded(self) -> LoadedModels:
        self._start_loading()
        assert self._loading is not None
        loaded = self._loading.result()
        # A diarizer that --diarize requires but cannot load is a setup error for the whole
        # run (exit 3), not a failure of one file: said before any transcription where the
        # two take turns (a CPU), else as soon as the load ends (it raises from the flow).
        if loaded.engine.device != "cuda" or loaded.pending.done():
            loaded.pending.result()
        return loaded

    def run(
        self, paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> list[FileResult]:
        batch = Batch(
            self.settings,
            self.formats,
            key=resume_key(self.settings, self.options),
            output_dir=self.output_dir,
            overwrite=self.overwrite,
        )
        items = batch.items(paths, include, exclude)
        self.reporter.batch_started(len(items))
        results: list[FileResult] = []
        try:
            for i, item in enumerate(items):
                following = items[i + 1] if i + 1 < len(items) else None
                result = batch.precheck(item) or self._process(batch, item, following)
                results.append(result)
                self.reporter.file_finished(result)
        finally:
            self.readahead.close()
            self._loader.shutdown(wait=False)
            batch.close()
        return results

    def _process(self, batch: Batch, item: Item, following: Item | None) -> FileResult:
        sha = ""
        audio: DecodedAudio | None = None
        try:
            info = batch.probe(item, self.readahead.probe)
            if isinstance(info, FileResult):
                return info
            self._start_loading()  # the models load while this file is decoded and hashed
            self.reporter.file_started(item.path, info.duration)
            # Read the next input meanwhile, unless it will be skipped or fail unread.
            if following is not None and batch.precheck(following) is None:
                self.readahead.schedule(following.path)
            waited = time.perf_counter()
            audio = self.readahead.decode(item.path, info)
            timings = {"decode": round(time.perf_counter() - waited, 3)}
            sha = batch.content_hash(item)  # of the bytes decoded: unchanged since, or it fails
            audio.check_unchanged()
            resume = self._resume(batch, item, sha)
            waited = time.perf_counter()
            models = self._loaded()
            timings["load"] = round(time.perf_counter() - waited, 3)

            def checkpoint(state: WindowCheckpoint, _decoded: float) -> None:
                batch.manifest.save_checkpoint(sha, batch.key, state.model_dump_json())

            transcript = transcribe_audio(
                audio,
                models,
                self.options.whisper,
                self.options.speakers,
                progress=self.reporter.file_progress,
                source=item.path.name,
                window_seconds=self.settings.window_seconds,
                resume=resume,
                on_checkpoint=checkpoint,
                timings=timings,
            )
            waited = time.perf_counter()
            texts = render(transcript, self.formats)
            resumed = {"resumed_from": resume.seconds} if resume else {}
            summary = ResultSummary.of(transcript, timings)
            audio.check_unchanged()  # never recorded as done for content it did not transcribe
            result = batch.finish(item, sha, texts, summary, **resumed)
            if result.runtime is not None:
                result.runtime["stages"] = {
                    **timings,
                    "write": round(time.perf_counter() - waited, 3),
                }
            batch.manifest.drop_checkpoint(sha, batch.key)
            return result
        except (ModelUnavailable, DiarizationUnavailable):
            raise  # no file can be done without the models: one line, stop the run
        except TranscriberError as exc:
            if isinstance(exc, InputChanged):  # its stat now is not that of the hashed bytes
                sha = ""
            return batch.fail(item, sha, with_doctor_hint(exc))  # ffmpeg missing: where to look
        finally:
            self.readahead.discard(item.path)
            if audio is not None:  # its temporary file goes now, not when collected
                audio.close()

    def _resume(self, batch: Batch, item: Item, sha: str) -> WindowCheckpoint | None:
        """The windows an earlier run of this content and these options finished."""
        saved = batch.manifest.checkpoint(sha, batch.key)
        if saved is None:
            return None
        try:
            state = WindowCheckpoint.model_validate_json(saved)
        except ValidationError:
            batch.manifest.drop_checkpoint(sha, batch.key)
            return None
        self.reporter.note(
            f"{item.path.name}: resuming at {clock(state.seconds)} "
            f"({state.windows} window(s) done by an earlier run)"
        )
        return state
