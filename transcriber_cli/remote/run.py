"""``transcribe --remote``: submit every input, tail the jobs, download the outputs.

Outputs land where a local run puts them (``batch.output_base``) and each input yields the
same ``FileResult`` line as a local run, plus its ``task_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from transcriber_cli import media
from transcriber_cli.batch import Candidate, FileResult, discover, output_base
from transcriber_cli.config import Settings
from transcriber_cli.errors import ExitCode, InputError, NotMediaError, TranscriberError
from transcriber_cli.formats import OutputFormat
from transcriber_cli.pipeline import DiarizeOptions
from transcriber_cli.remote import tasks as tasks_mod
from transcriber_cli.remote.client import RemoteClient, Submission, task_options


class DetachedError(TranscriberError):
    """Ctrl-C while tailing: the jobs keep running remotely."""

    exit_code = ExitCode.INTERRUPTED


@dataclass
class RemoteResult:
    file: FileResult
    task_id: str | None = None
    reused: bool = False

    def to_json(self) -> dict:
        return {**self.file.to_json(), "task_id": self.task_id, "reused": self.reused}


class RemoteReporter(Protocol):
    def submitting(self, path: Path, duration: float) -> None: ...
    def submitted(self, sub: Submission) -> None: ...
    def update(self, doc: dict) -> None: ...
    def finished(self, result: RemoteResult) -> None: ...


def result_from_task(path: Path, doc: dict, outputs: Sequence[Path]) -> FileResult:
    result = doc.get("result") or {}
    diar = result.get("diarization") or {}
    return FileResult(
        str(path),
        "done",
        [str(o) for o in outputs],
        duration=result.get("duration"),
        language=result.get("language"),
        speakers=result.get("speakers") or [],
        diarization="done" if diar.get("status") == "done" else diar.get("reason"),
    )


def failure_from_task(path: Path, doc: dict) -> FileResult:
    if doc["status"] == tasks_mod.CANCELLED:
        return FileResult(str(path), "failed", error=f"{path}: job {doc['_id']} was cancelled")
    return FileResult(
        str(path),
        "failed",
        error=f"{path}: job {doc['_id']} failed: {doc.get('error') or 'unknown'}",
    )


def run_remote(
    settings: Settings,
    paths: Sequence[Path],
    formats: Sequence[OutputFormat],
    reporter: RemoteReporter,
    *,
    output_dir: Path | None = None,
    diarize_options: DiarizeOptions | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    wait: bool = True,
    client: RemoteClient | None = None,
) -> list[RemoteResult]:
    own_client = client is None
    client = client or RemoteClient(settings)
    try:
        return _run(
            settings,
            paths,
            formats,
            reporter,
            client,
            output_dir,
            diarize_options,
            include,
            exclude,
            wait,
        )
    finally:
        if own_client:
            client.close()


def _run(
    settings, paths, formats, reporter, client, output_dir, diarize_options, include, exclude, wait
) -> list[RemoteResult]:
    extensions = [f.extension for f in formats] + ["txt", "json", "srt", "vtt", "tsv"]
    options = task_options(settings, diarize_options)
    names = [f.name for f in formats]
    results: list[RemoteResult] = []
    jobs: list[tuple[Candidate, Path, Submission]] = []
    seen: dict[Path, Path] = {}
    for cand in discover(paths, include, exclude, extensions):
        base = output_base(cand, output_dir).absolute()
        if base in seen:
            results.append(
                RemoteResult(
                    FileResult(
                        str(cand.path),
                        "failed",
                        error=f"{cand.path}: outputs would overwrite those of {seen[base]}; "
                        "rename one or use -o",
                    )
                )
            )
            reporter.finished(results[-1])
            continue
        seen[base] = cand.path
        try:
            try:
                info = media.probe(cand.path)
            except NotMediaError as exc:
                if cand.root is None:
                    raise
                results.append(RemoteResult(FileResult(str(cand.path), "ignored", reason=str(exc))))
                reporter.finished(results[-1])
                continue
            reporter.submitting(cand.path, info.duration)
            sub = client.submit(cand.path, options, formats=names, info=info)
        except InputError as exc:
            results.append(RemoteResult(FileResult(str(cand.path), "failed", error=str(exc))))
            reporter.finished(results[-1])
            continue
        reporter.submitted(sub)
        jobs.append((cand, base, sub))

    if not wait:
        for cand, _base, sub in jobs:
            status = tasks_mod.COMPLETED if sub.reused else tasks_mod.QUEUED
            results.append(
                RemoteResult(FileResult(str(cand.path), status), sub.task_id, sub.reused)
            )
            reporter.finished(results[-1])
        return results

    ids = [sub.task_id for _, _, sub in jobs]
    try:
        final = client.wait(ids, on_update=reporter.update) if ids else {}
    except KeyboardInterrupt:
        raise DetachedError(
            f"stopped waiting; {len(ids)} job(s) keep running remotely",
            hint="reattach with 'transcriber jobs wait "
            + " ".join(ids)
            + "', then 'transcriber jobs fetch ID -o DIR'",
        ) from None
    for cand, base, sub in jobs:
        doc = final[sub.task_id]
        if doc["status"] == tasks_mod.COMPLETED:
            try:
                outputs = client.fetch(doc, base, formats)
                file = result_from_task(cand.path, doc, outputs)
            except TranscriberError as exc:
                file = FileResult(str(cand.path), "failed", error=f"{cand.path}: {exc}")
        else:
            file = failure_from_task(cand.path, doc)
        results.append(RemoteResult(file, sub.task_id, sub.reused))
        reporter.finished(results[-1])
    return results


def exit_code(results: Sequence[RemoteResult]) -> ExitCode:
    return ExitCode.FAILED if any(r.file.status == "failed" for r in results) else ExitCode.OK
