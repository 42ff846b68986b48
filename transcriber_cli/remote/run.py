"""``transcribe --remote``: the same batch as a local run, with the work done by workers.

Inputs, skips, clashes, ignored files and failures are decided by the same job layer
(``jobs/batch.py``) as a local run, and outputs land in the same places, so one folder gives
the same statuses and files either way. Each input's result line also names its job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from transcriber_cli import media
from transcriber_cli.config import Settings
from transcriber_cli.errors import (
    ExitCode,
    InputError,
    TranscriberError,
    Unavailable,
    interrupt_exit_code,
)
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.jobs.batch import Batch, Item
from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.results import FileResult, Status
from transcriber_cli.remote.client import RemoteClient, Submission
from transcriber_cli.store.documents import JobDocument, JobStatus


class DetachedError(TranscriberError):
    """Ctrl-C (or SIGTERM, SIGHUP) while tailing: the jobs keep running remotely."""

    exit_code: int = ExitCode.INTERRUPTED


class LostContact(Unavailable):
    """MongoDB stayed away longer than ``outage_patience`` while tailing: the jobs go on."""


class RemoteReporter(Protocol):
    def submitting(self, path: Path, duration: float) -> None: ...
    def submitted(self, sub: Submission) -> None: ...
    def update(self, doc: JobDocument) -> None: ...
    def finished(self, result: FileResult) -> None: ...


@dataclass
class _Pending:
    item: Item
    sha: str
    sub: Submission


def run_remote(
    settings: Settings,
    options: JobOptions,
    paths: Sequence[Path],
    formats: Sequence[OutputFormat],
    reporter: RemoteReporter,
    *,
    output_dir: Path | None = None,
    overwrite: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    wait: bool = True,
    client: RemoteClient | None = None,
) -> list[FileResult]:
    own_client = client is None
    client = client or RemoteClient(settings)
    batch = Batch(settings, formats, key=options.key(), output_dir=output_dir, overwrite=overwrite)
    results: list[FileResult] = []

    def report(result: FileResult) -> None:
        results.append(result)
        reporter.finished(result)

    try:
        pending = [
            p
            for item in batch.items(paths, include, exclude)
            if (p := _submit(batch, client, options, item, reporter, report))
        ]
        if not wait:
            for p in pending:
                if p.sub.reused:  # nothing to wait for: the outputs exist already
                    report(_collect(batch, client, p, client.jobs.get(p.sub.job_id)))
                else:
                    report(FileResult(p.item.name, Status.QUEUED, job_id=p.sub.job_id))
            return results
        by_id = {p.sub.job_id: p for p in pending}

        def ended(doc: JobDocument) -> None:
            report(_collect(batch, client, by_id[doc.id], doc))

        def detach() -> tuple[int, str]:
            """Report every job still running (its id goes to ``--json`` too), and say how
            to reattach."""
            ended_ids = {r.job_id for r in results}
            left = [job_id for job_id in by_id if job_id not in ended_ids]
            for job_id in left:
                report(FileResult(by_id[job_id].item.name, Status.QUEUED, job_id=job_id,
                                  reason="still running remotely"))  # fmt: skip
            hint = (
                f"reattach with 'transcriber jobs wait {' '.join(left)}', "
                "then 'transcriber jobs fetch ID -o DIR'"
            )
            return len(left), hint

        try:
            client.wait(list(by_id), on_update=reporter.update, on_end=ended)
        except KeyboardInterrupt as exc:  # Ctrl-C, or Terminated (SIGTERM, SIGHUP)
            count, hint = detach()
            detached = DetachedError(
                f"stopped waiting; {count} job(s) keep running remotely", hint=hint
            )
            detached.exit_code = interrupt_exit_code(exc)
            raise detached from None
        except Unavailable as exc:
            count, hint = detach()
            raise LostContact(
                f"stopped waiting: {exc}; {count} job(s) keep running remotely", hint=hint
            ) from None
        return results
    finally:
        batch.close()
        if own_client:
            client.close()


def _submit(
    batch: Batch,
    client: RemoteClient,
    options: JobOptions,
    item: Item,
    reporter: RemoteReporter,
    report: Callable[[FileResult], None],
) -> _Pending | None:
    early = batch.precheck(item)
    if early is not None:
        report(early)
        return None
    sha = ""
    try:
        stream = batch.settings.audio_stream  # the client extracts that one
        timeout = batch.settings.probe_timeout
        info = batch.probe(item, lambda path: media.probe(path, stream, timeout))
        if isinstance(info, FileResult):
            report(info)
            return None
        sha = batch.content_hash(item)
        reporter.submitting(item.path, info.duration)
        sub = client.submit(
            item.path,
            options,
            info=info,
            sha256=sha,
            formats=[f.name for f in batch.formats],
            reuse=not batch.overwrite,
        )
    except InputError as exc:
        report(batch.fail(item, sha, str(exc)))
        return None
    reporter.submitted(sub)
    return _Pending(item, sha, sub)


def _collect(batch: Batch, client: RemoteClient, p: _Pending, doc: JobDocument) -> FileResult:
    """The outputs of an ended job, written where a local run writes them."""
    remote = {"job_id": doc.id, "reused": p.sub.reused, "cost": doc.cost.model_dump(mode="json")}
    if doc.status is JobStatus.COMPLETED and doc.result is not None:
        try:
            texts = client.fetch_texts(doc, batch.formats)
            return batch.finish(p.item, p.sha, texts, doc.result, **remote)
        except TranscriberError as exc:  # also outputs that cannot be written here
            return batch.fail(p.item, p.sha, str(exc), **remote)
    if doc.status is JobStatus.CANCELLED:
        return batch.fail(p.item, p.sha, f"job {doc.id} was cancelled", **remote)
    return batch.fail(p.item, p.sha, f"job {doc.id} failed: {doc.error or 'unknown'}", **remote)
