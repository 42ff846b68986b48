"""The remote-mode client: submit inputs, tail their progress, fetch the outputs.

Only audio leaves the machine, never the original (video) file: a 16 kHz mono mp3, copied
when the input already is one, else extracted. The client never talks to a worker: it writes
a job document and a queue message, then polls the document by id until the job ends.

An outage of MongoDB, S3 or SQS is waited out for ``outage_patience`` seconds (the store
retries its own calls; the S3 and SQS steps are wrapped here), then reported as
``Unavailable`` with the jobs left running.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from transcriber_cli import media
from transcriber_cli.aws.errors import error_code
from transcriber_cli.aws.s3 import Storage, audio_key
from transcriber_cli.aws.sqs import JobQueue
from transcriber_cli.config import Settings
from transcriber_cli.errors import InputError, TranscriberError
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.fsutil import sha256_file
from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.outputs import render
from transcriber_cli.retry import patiently
from transcriber_cli.store.documents import Audio, JobDocument, JobStatus, Source
from transcriber_cli.store.mongo import JobNotFound, JobStateError, JobStore, now
from transcriber_cli.store.stats import Estimate, cost_estimate
from transcriber_cli.transcript import Transcript

Update = Callable[[JobDocument], None]
T = TypeVar("T")


@dataclass
class Submission:
    job_id: str
    path: Path
    duration: float
    reused: bool  # an identical completed job was found: nothing uploaded, nothing queued
    timings: dict[str, float]


class WaitTimeout(JobStateError):
    pass


class RemoteClient:
    """Connections are opened on first use: ``jobs list`` needs only MongoDB."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: Storage | None = None,
        queue: JobQueue | None = None,
        jobs: JobStore | None = None,
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._queue = queue
        self._jobs = jobs
        self._per_second: Estimate | None = None  # for --max-cost: one query per run

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = Storage.from_settings(self.settings)
        return self._storage

    @property
    def queue(self) -> JobQueue:
        if self._queue is None:
            self._queue = JobQueue.from_settings(self.settings)
        return self._queue

    @property
    def jobs(self) -> JobStore:
        if self._jobs is None:
            self._jobs = JobStore.from_settings(self.settings)
        return self._jobs

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.close()

    def _wait_out(self, call: Callable[[], T], what: str) -> T:
        return patiently(call, patience=self.settings.outage_patience, what=what)

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submit -----------------------------------------------------------------------------------
    def submit(
        self,
        path: Path,
        options: JobOptions,
        *,
        info: media.MediaInfo,
        sha256: str,
        formats: Sequence[str],
        reuse: bool = True,
        on_upload: Callable[[int, int], None] | None = None,
    ) -> Submission:
        """reuse? -> audio (copy or extract) -> upload -> job document (queued) -> message."""
        timings: dict[str, float] = {}
        stream = self.settings.audio_stream  # another stream is another recording
        key = options.key(**({} if stream is None else {"audio_stream": stream}))
        if reuse:
            found = self.jobs.find_reusable(sha256, key)
            if found is not None:
                return Submission(found.id, path, info.duration, True, timings)
        limit = self.settings.max_cost
        if limit is not None:  # before any upload: a refused job costs nothing
            if self._per_second is None:
                self._per_second = cost_estimate(self.jobs, 1.0)
            usd = self._per_second.usd * info.duration
            if usd > limit:
                raise InputError(
                    f"{path}: estimated at ${usd:.2f}, over --max-cost ${limit:g}",
                    hint=self._per_second.basis,
                )

        job_id = uuid.uuid4().hex
        with tempfile.TemporaryDirectory(prefix="transcriber-") as tmp:
            t0 = time.perf_counter()
            mp3 = media.extract_mp3(
                path, Path(tmp) / "audio.mp3", copy=media.is_upload_form(info), info=info
            )
            timings["extract"] = time.perf_counter() - t0
            size = mp3.stat().st_size
            sent = 0

            def uploaded(n: int) -> None:
                nonlocal sent
                sent += n
                if on_upload:
                    on_upload(sent, size)

            t0 = time.perf_counter()

            def upload() -> None:
                nonlocal sent
                sent = 0  # a retry starts the upload over
                self.storage.upload_file(mp3, audio_key(job_id), progress=uploaded)

            self._wait_out(upload, "S3")
            timings["upload"] = time.perf_counter() - t0
            audio = Audio(sha256=sha256_file(mp3), bytes=size)
        t0 = time.perf_counter()
        stamp = now()
        self.jobs.create(
            JobDocument(
                _id=job_id,
                options=options,
                options_key=key,
                formats=list(formats),
                source=Source(
                    name=path.name,
                    duration=round(info.duration, 3),
                    sha256=sha256,
                    has_video=info.has_video,
                ),
                audio=audio,
                created=stamp,
                updated=stamp,
            )
        )
        self._enqueue(job_id)
        timings["enqueue"] = time.perf_counter() - t0
        return Submission(job_id, path, info.duration, False, timings)

    # --- tail -------------------------------------------------------------------------------------
    def wait(
        self,
        job_ids: Sequence[str],
        on_update: Update | None = None,
        *,
        on_end: Update | None = None,
        timeout: float | None = None,
    ) -> dict[str, JobDocument]:
        """Poll until every job ended; ``on_update`` sees each changed document, ``on_end``
        each job once as it ends."""
        pending = list(dict.fromkeys(job_ids))
        seen: dict[str, tuple] = {}
        final: dict[str, JobDocument] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending:
            docs = self.jobs.get_many(pending)
            for job_id in list(pending):
                doc = docs.get(job_id)
                if doc is None:
                    raise JobNotFound(f"no job {job_id}")
                mark = (doc.status, doc.stage, doc.progress, doc.message)
                if seen.get(job_id) != mark:
                    seen[job_id] = mark
                    if on_update:
                        on_update(doc)
                if doc.status.ended:
                    final[job_id] = doc
                    pending.remove(job_id)
                    if on_end:
                        on_end(doc)
            if not pending:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"still running after {timeout:g} s: {', '.join(pending)}")
            time.sleep(self.settings.remote_poll_seconds)
        return final

    # --- fetch ------------------------------------------------------------------------------------
    def fetch_texts(self, doc: JobDocument, formats: Sequence[OutputFormat]) -> list[str]:
        """The text of each format's export in ``output/{job}/``, all read before any is
        written, so a failed download leaves no partial set."""
        if doc.status is not JobStatus.COMPLETED:
            raise JobStateError(f"job {doc.id} is {doc.status.value}, not completed")
        # By the whole name, not the last suffix: "NAME.qa.json" is not "NAME.json", nor is
        # "NAME.summary.md" "NAME.md".
        stem = doc.source.stem or "transcript"
        by_ext = {Path(k).name.removeprefix(f"{stem}."): k for k in doc.outputs}
        # Rendered here from the JSON: subtitles shaped other than the workers do, and opt-in
        # formats the job did not ask for (workers write only the default ones and those).
        here = [f for f in formats if f.from_transcript or f.extension not in by_ext]
        wanted = {f.extension for f in formats if f not in here} | ({"json"} if here else set())
        missing = sorted(wanted - set(by_ext))
        if missing:
            raise JobStateError(
                f"job {doc.id} has no {', '.join(missing)} output "
                f"(it has {', '.join(sorted(by_ext)) or 'none'})"
            )
        texts = {
            ext: self._wait_out(partial(self.storage.get_text, by_ext[ext]), "S3")
            for ext in sorted(wanted)
        }
        transcript = Transcript.model_validate_json(texts["json"]) if here else None
        # A writer's error fails this file alone, in one line, as in a local run.
        made = render(transcript, here) if transcript else []
        rendered = dict(zip((f.extension for f in here), made, strict=False))
        return [rendered[f.extension] if f.extension in rendered else texts[f.extension]
                for f in formats]  # fmt: skip

    # --- jobs -------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobDocument:
        return self.jobs.cancel(job_id)

    def retry(self, job_id: str) -> JobDocument:
        doc = self.jobs.retry(job_id)
        self._enqueue(job_id)
        return doc

    def _enqueue(self, job_id: str) -> None:
        """Send the queued job's message. Without one no worker ever takes the job, and a
        queued job cannot be retried: where the send fails the job is cancelled, saying so,
        so that `jobs retry` can queue it again."""
        try:  # the queue is looked up inside: a lookup that fails leaves no message either
            self._wait_out(lambda: self.queue.send(job_id), "SQS")
        except BaseException as exc:  # Ctrl-C while an outage is waited out, too
            # A raw AWS error's text can name the caller's ARN: the document keeps its code.
            cause = str(exc) if isinstance(exc, TranscriberError) else error_code(exc)
            why = f"not queued: its message could not be sent ({cause or type(exc).__name__})"
            # After Ctrl-C, a MongoDB outage is not waited out for long.
            patience = None if isinstance(exc, Exception) else 5.0
            with contextlib.suppress(Exception):
                self.jobs.unqueue(job_id, why, patience=patience)
            if isinstance(exc, TranscriberError):
                again = f"job {job_id} is not queued: 'transcriber jobs retry {job_id}'"
                exc.hint = f"{exc.hint}; {again}" if exc.hint else again
            raise
