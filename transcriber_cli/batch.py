"""Batch runs: find inputs, skip what is done, transcribe the rest, write outputs atomically.

One bad file never stops a batch: its error is recorded and the next file runs. The model
loads once, and only if some file actually needs work (a resumed run that skips everything
starts instantly).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.engine.whisper import WhisperEngine, WhisperOptions
from transcriber_cli.errors import (
    DiarizationUnavailable,
    ExitCode,
    ModelUnavailable,
    NotMediaError,
    TranscriberError,
)
from transcriber_cli.formats import OutputFormat, available_formats
from transcriber_cli.fsutil import atomic_write_text
from transcriber_cli.manifest import Manifest, options_key
from transcriber_cli.pipeline import DiarizeOptions, check_duration, transcribe_audio
from transcriber_cli.readahead import MAX_AHEAD_SECONDS, ReadAhead

RESULT_SCHEMA = "transcriber.result/1"


@dataclass
class FileResult:
    """What happened to one input; one JSON line per input with ``--json``."""

    path: str
    status: str  # done | skipped | ignored | failed
    outputs: list[str] = field(default_factory=list)
    duration: float | None = None
    language: str | None = None
    speakers: list[str] = field(default_factory=list)
    diarization: str | None = None  # "done", or why it was skipped
    error: str | None = None
    reason: str | None = None  # why skipped/ignored

    def to_json(self) -> dict[str, Any]:
        return {"schema": RESULT_SCHEMA, **asdict(self)}


@dataclass
class Candidate:
    path: Path
    root: Path | None  # the folder it was found in (None: named on the command line)


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


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def discover(
    paths: Iterable[Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    output_extensions: Sequence[str] = (),
) -> Iterator[Candidate]:
    """Yield named files as they are and every file below named folders, sorted, recursively.

    Hidden files and folders are left out, and so are our own outputs (a ``.txt``/``.srt``/...
    sitting beside a file of the same stem)."""
    out_ext = {"." + e.lower() for e in output_extensions}
    for path in paths:
        if not path.is_dir():
            yield Candidate(path, None)
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            stems = {Path(f).stem for f in filenames if Path(f).suffix.lower() not in out_ext}
            for name in sorted(filenames):
                file = Path(dirpath) / name
                rel = file.relative_to(path).as_posix()
                if name.startswith("."):
                    continue
                if file.suffix.lower() in out_ext and file.stem in stems:
                    continue
                if include and not _matches(rel, include):
                    continue
                if exclude and _matches(rel, exclude):
                    continue
                yield Candidate(file, path)


def output_base(candidate: Candidate, output_dir: Path | None) -> Path:
    """``DIR/NAME`` without extension; a folder's structure is mirrored under ``-o DIR``."""
    path = candidate.path
    if output_dir is None:
        return path.parent / path.stem
    if candidate.root is not None:
        return output_dir / path.relative_to(candidate.root).parent / path.stem
    return output_dir / path.stem


def result_options(settings: Settings, engine_name: str) -> dict[str, Any]:
    """The options that change results: they form the skip/resume key."""
    return {
        "model": engine_name,
        "compute_type": settings.compute_type,
        **asdict(whisper_options(settings)),
        "diarize": settings.diarize,
        "diarization_model": settings.diarization_model,
    }


def whisper_options(settings: Settings) -> WhisperOptions:
    return WhisperOptions(
        language=settings.language,
        task=settings.task,
        beam_size=settings.beam_size,
        batch_size=settings.batch_size,
        vad=settings.vad,
        word_timestamps=settings.word_timestamps,
        initial_prompt=settings.initial_prompt,
        hotwords=settings.hotwords,
    )


class BatchRunner:
    def __init__(
        self,
        settings: Settings,
        formats: Sequence[OutputFormat],
        *,
        output_dir: Path | None = None,
        overwrite: bool = False,
        reporter: Reporter | None = None,
        diarize_options: DiarizeOptions | None = None,
    ) -> None:
        self.settings = settings
        self.formats = list(formats)
        self.output_dir = output_dir
        self.overwrite = overwrite
        self.reporter = reporter or NullReporter()
        self.diarize_options = diarize_options or DiarizeOptions()
        self._engine: WhisperEngine | None = None
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-models")
        self._loading: Future[tuple[WhisperEngine, Any, dict | None]] | None = None
        self._diarizer: Any = None
        self._diarization_note: dict | None = None
        self.manifest = Manifest(settings.state_dir / "manifest.sqlite3")
        # Reads the next file while this one transcribes (never one over the length limit).
        self.readahead = ReadAhead(min(MAX_AHEAD_SECONDS, settings.max_duration_hours * 3600))
        self._upcoming: tuple[Candidate, Path] | None = None

    # --- lazily loaded heavy parts --------------------------------------------------------
    def _load_models(self) -> tuple[WhisperEngine, Any, dict | None]:
        self.reporter.note(f"loading model {self.settings.model}")
        engine = WhisperEngine.from_settings(self.settings)
        self.reporter.note(f"model {engine.name} on {engine.device} ({engine.compute_type})")
        from transcriber_cli.diarize.loader import load_diarizer

        diarizer, note = load_diarizer(self.settings, self.diarize_options, device=engine.device)
        if diarizer is None and note:
            self.reporter.note(f"diarization skipped: {note['reason']}")
        return engine, diarizer, note

    def _start_loading(self) -> None:
        """Load the models in the background from the first file that needs them on, so the
        load overlaps that file's hashing and decoding (a second or more per run)."""
        if self._engine is None and self._loading is None:
            self._loading = self._loader.submit(self._load_models)

    @property
    def engine(self) -> WhisperEngine:
        if self._engine is None:
            self._start_loading()
            assert self._loading is not None
            # Assigned only once both loaded: a diarizer that --diarize requires but cannot
            # load is a setup error for the whole run (exit 3), not a failure of one file.
            engine, self._diarizer, self._diarization_note = self._loading.result()
            self._engine = engine
        return self._engine

    def _requested_model(self) -> str:
        # The skip key must be known before loading anything; "auto" resolves by device.
        if self.settings.model != "auto":
            return self.settings.model
        if self._engine is not None:
            return self._engine.name
        from transcriber_cli.engine.device import resolve_device
        from transcriber_cli.engine.models import pick_auto_model

        return pick_auto_model(resolve_device(self.settings.device, "auto")[0])

    # --- the run ----------------------------------------------------------------------------
    def run(
        self, paths: Sequence[Path], include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> list[FileResult]:
        # Outputs of any known format (not only those asked for now) are not inputs.
        extensions = [f.extension for f in available_formats().values()]
        candidates = list(discover(paths, include, exclude, extensions))
        self.reporter.batch_started(len(candidates))
        # Speaker counts and names change the labels written, so they are part of the key too.
        options = {
            **result_options(self.settings, self._requested_model()),
            **asdict(self.diarize_options),
        }
        if self.settings.diarize is None:
            from transcriber_cli.diarize.loader import pipeline_reachable

            options["diarize_reachable"] = pipeline_reachable(self.settings)
        key = options_key(options)
        seen: dict[Path, Path] = {}
        results: list[FileResult] = []
        bases = [output_base(cand, self.output_dir).absolute() for cand in candidates]
        try:
            for i, (cand, base) in enumerate(zip(candidates, bases)):
                following = bases[i + 1] if i + 1 < len(bases) else None
                clash = following in seen or following == base  # it will fail unread
                self._upcoming = (
                    None if following is None or clash else (candidates[i + 1], following)
                )
                if base in seen:
                    result = FileResult(
                        str(cand.path),
                        "failed",
                        error=f"{cand.path}: outputs would overwrite those of {seen[base]}; "
                        "rename one or use -o",
                    )
                else:
                    seen[base] = cand.path
                    result = self._process(cand, base, key)
                results.append(result)
                self.reporter.file_finished(result)
        finally:
            self.readahead.close()
            self._loader.shutdown(wait=False)
            self.manifest.close()
        return results

    def _outputs(self, base: Path) -> list[Path]:
        return [base.with_name(f"{base.name}.{f.extension}") for f in self.formats]

    def _process(self, cand: Candidate, base: Path, key: str) -> FileResult:
        path = cand.path
        outputs = self._outputs(base)
        sha = ""
        try:
            if not self.overwrite and path.is_file():
                skip = self._skip_reason(path, base, key, outputs)
                if skip:
                    return FileResult(str(path), "skipped", [str(o) for o in outputs], reason=skip)
            try:
                info = self.readahead.probe(path)
            except NotMediaError as exc:
                # Found in a folder and not named like a recording (notes.txt, photo.png):
                # skipped, not a failure. A broken "talk.mp4" is still a failure.
                if cand.root is not None and not media.has_media_extension(path):
                    return FileResult(str(path), "ignored", reason=str(exc))
                raise
            self._start_loading()  # the models load while this file is hashed and decoded
            sha = self.manifest.content_hash(path, self.manifest.get(base))
            self.reporter.file_started(path, info.duration)
            self._read_ahead(key)
            check_duration(info, self.settings.max_duration_hours)
            audio = self.readahead.decode(path)
            engine = self.engine
            transcript = transcribe_audio(
                audio,
                engine=engine,
                options=whisper_options(self.settings),
                source=path.name,
                diarizer=self._diarizer,
                diarize_options=self.diarize_options,
                diarization_note=self._diarization_note,
                progress=self.reporter.file_progress,
            )
            # Render everything first, then write: a writer error leaves no partial set.
            rendered = [(out, fmt.write(transcript)) for out, fmt in zip(outputs, self.formats)]
            for out, text in rendered:
                atomic_write_text(out, text)
            self.manifest.record(base, path, sha256=sha, key=key, status="done", outputs=outputs)
            diar = transcript.diarization
            return FileResult(
                str(path),
                "done",
                [str(o) for o in outputs],
                duration=transcript.duration,
                language=transcript.language,
                speakers=transcript.speakers,
                diarization="done" if diar.get("status") == "done" else diar.get("reason"),
            )
        except (ModelUnavailable, DiarizationUnavailable):
            raise  # no file can be done without the models: one line, stop the run
        except TranscriberError as exc:
            error = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            self._record_failure(path, base, sha, key, error)
            return FileResult(str(path), "failed", error=error)
        finally:
            self.readahead.discard(path)

    def _read_ahead(self, key: str) -> None:
        """Start reading the next input, unless it will be skipped (nothing to read then)."""
        if self._upcoming is None:
            return
        cand, base = self._upcoming
        may_skip = not self.overwrite and cand.path.is_file()
        if may_skip and self._skip_reason(cand.path, base, key, self._outputs(base)):
            return
        self.readahead.schedule(cand.path)

    def _record_failure(self, path: Path, base: Path, sha: str, key: str, error: str) -> None:
        if path.is_file() and sha:
            self.manifest.record(base, path, sha256=sha, key=key, status="failed", error=error)

    def _skip_reason(self, path: Path, base: Path, key: str, outputs: list[Path]) -> str | None:
        if not all(o.exists() for o in outputs):
            return None
        entry = self.manifest.get(base)
        if entry is None:
            return "outputs exist (use --overwrite to redo)"
        if entry.status != "done" or entry.options_key != key:
            return None
        if self.manifest.content_hash(path, entry) != entry.sha256:
            return None
        return "already transcribed with these options"


def exit_code(results: Sequence[FileResult]) -> ExitCode:
    return ExitCode.FAILED if any(r.status == "failed" for r in results) else ExitCode.OK
