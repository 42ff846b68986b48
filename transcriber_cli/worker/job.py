"""One delivered message: claim the job, run the shared pipeline on its mp3, publish results.

While the job runs a lease thread keeps the SQS message invisible and the MongoDB lease
fresh; if the job stops being ours (cancelled, or taken over after our lease lapsed) the
progress callback raises and the pipeline stops at its next chunk.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from transcriber_cli import media
from transcriber_cli.aws.s3 import Storage, audio_key, output_prefix
from transcriber_cli.aws.sqs import JobQueue, Message
from transcriber_cli.config import Settings
from transcriber_cli.errors import CancelledError
from transcriber_cli.formats.registry import available_formats
from transcriber_cli.jobs.outputs import render
from transcriber_cli.jobs.results import ResultSummary
from transcriber_cli.pipeline.models import ModelCache
from transcriber_cli.store.documents import JobDocument, JobStatus
from transcriber_cli.store.mongo import JobNotFound, JobStore, now
from transcriber_cli.worker import recovery

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0  # at most one progress write per second per job


class ReleaseRequested(Exception):
    """SIGTERM or a Spot notice: hand the job back instead of finishing it."""


class LeaseLost(Exception):
    """Another worker owns the job now (our lease lapsed)."""


@dataclass
class WorkerState:
    """Flags shared by the loop, the signal handlers and every running job."""

    worker_id: str
    shutdown_grace: float
    stopping: threading.Event = field(default_factory=threading.Event)
    interrupted: threading.Event = field(default_factory=threading.Event)
    active: dict[str, float] = field(default_factory=dict)  # job id -> start time


class Lease(threading.Thread):
    """Extend message visibility and the job lease every third of the visibility timeout."""

    def __init__(
        self,
        queue: JobQueue,
        jobs: JobStore,
        message: Message,
        job_id: str,
        worker: str,
        timeout: int,
    ) -> None:
        super().__init__(name=f"lease-{job_id[:8]}", daemon=True)
        self.queue, self.jobs, self.message = queue, jobs, message
        self.job_id, self.worker, self.timeout = job_id, worker, timeout
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        interval = max(self.timeout / 3, 0.5)
        while not self.done.wait(interval):
            try:
                self.queue.extend(self.message.receipt, self.timeout)
                if not self.jobs.renew(self.job_id, self.worker, self.timeout):
                    self.lost.set()
                    return
            except Exception as exc:  # a blip must not kill the job; the next beat retries
                log.warning("lease renewal for %s failed: %s", self.job_id, exc)

    def stop(self) -> None:
        """Stop renewing and wait for a renewal in flight: the job's final queue operation
        (delete, or release with a delay) must not be followed by one more extension."""
        self.done.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=60)


class JobRunner:
    def __init__(
        self,
        *,
        state: WorkerState,
        settings: Settings,
        queue: JobQueue,
        storage: Storage,
        jobs: JobStore,
        models: ModelCache,
    ) -> None:
        self.state = state
        self.settings = settings
        self.queue = queue
        self.storage = storage
        self.jobs = jobs
        self.models = models

    def handle(self, message: Message) -> str:
        """Process one message; returns what happened (for logs and tests)."""
        if message.job_id is None:
            log.warning("dropping a message without a job id: %r", message.body[:200])
            self.queue.delete(message.receipt)
            return "dropped"
        job_id = message.job_id
        timeout = self.queue.visibility_timeout()
        claimed = self.jobs.claim(job_id, self.state.worker_id, lease_seconds=timeout)
        current = claimed
        if claimed is None:
            try:
                current = self.jobs.get(job_id)
            except JobNotFound:
                current = None
        action = recovery.on_delivery(current, claimed is not None)
        if action is recovery.Delivery.ACK:
            log.info(
                "job %s is %s: acknowledging a duplicate delivery",
                job_id,
                current.status.value if current else "unknown",
            )
            self.queue.delete(message.receipt)
            return "skipped"
        if action is recovery.Delivery.DEFER:
            lease_until = current.lease_until if current else None
            wait = timeout
            if lease_until is not None:
                wait = max(1, int((lease_until - now()).total_seconds()) + 1)
            self.queue.release(message.receipt, wait)
            return "deferred"
        assert claimed is not None  # on_delivery only says PROCESS for a claimed job
        return self._process(message, claimed)

    # --- the job ----------------------------------------------------------------------------------
    def _process(self, message: Message, job: JobDocument) -> str:
        job_id = job.id
        worker = self.state.worker_id
        lease = Lease(
            self.queue, self.jobs, message, job_id, worker, self.queue.visibility_timeout()
        )
        lease.start()
        started = time.monotonic()
        self.state.active[job_id] = started
        log.info("processing job %s (attempt %d, %s)", job_id, job.attempts, job.source.name)
        try:
            outputs, result = self._run(job, lease, started)
            lease.stop()
            seconds = time.monotonic() - started
            if self.jobs.complete(job_id, worker, outputs=outputs, result=result, seconds=seconds):
                self.queue.delete(message.receipt)
                log.info("completed job %s in %.1f s", job_id, seconds)
                return "completed"
            return self._lost(message, job_id)
        except CancelledError:
            lease.stop()
            self.storage.delete_prefix(output_prefix(job_id))
            self.queue.delete(message.receipt)
            log.info("job %s cancelled", job_id)
            return "cancelled"
        except LeaseLost:
            lease.stop()
            return self._lost(message, job_id)
        except ReleaseRequested as exc:
            lease.stop()
            self.jobs.release(job_id, worker, str(exc))
            self.queue.release(message.receipt, 0)
            log.info("released job %s: %s", job_id, exc)
            return "released"
        except Exception as exc:
            lease.stop()
            return self._failed(message, job_id, exc)
        finally:
            lease.stop()
            self.state.active.pop(job_id, None)

    def _lost(self, message: Message, job_id: str) -> str:
        doc = self.jobs.get(job_id)
        if doc.status is JobStatus.CANCELLED:
            self.storage.delete_prefix(output_prefix(job_id))
            self.queue.delete(message.receipt)
            return "cancelled"
        # Another worker took over: its completion acknowledges its own delivery.
        log.warning("job %s is no longer ours (%s)", job_id, doc.status.value)
        return "lost"

    def _failed(self, message: Message, job_id: str, exc: Exception) -> str:
        reason = str(exc) or type(exc).__name__
        decision = recovery.on_failure(
            exc,
            message.receive_count,
            self.queue.max_receive_count(),
            self.settings.worker_retry_delay,
        )
        log.error(
            "job %s failed (delivery %d): %s",
            job_id,
            message.receive_count,
            reason,
            exc_info=not recovery.is_permanent(exc),
        )
        if decision.final:
            reason = f"{reason} (after {message.receive_count} attempt(s))"
        self.jobs.fail(job_id, self.state.worker_id, reason, final=decision.final)
        if decision.dead_letter_now:
            self.queue.move_to_dead_letter(message, reason)
        else:
            self.queue.release(message.receipt, decision.retry_after)
        return "failed" if decision.final else "retry"

    def _run(
        self, job: JobDocument, lease: Lease, started: float
    ) -> tuple[list[str], ResultSummary]:
        from transcriber_cli.pipeline.flow import transcribe_audio

        worker = self.state.worker_id
        progress = ProgressWriter(self.jobs, job.id, worker, lease, self.state, started)
        progress.write("downloading", 0, "downloading audio", force=True)
        with tempfile.TemporaryDirectory(prefix="transcriber-worker-") as tmp:
            # The key comes from the job id, never from the document.
            mp3 = self.storage.download_file(audio_key(job.id), Path(tmp) / "audio.mp3")
            audio = media.decode_audio(mp3)
        progress.check()
        loaded = self.models.get(job.options.apply(self.settings))
        progress.write("transcribing", 0, "transcribing", force=True)
        progress.has_diarizer = loaded.diarizer is not None
        transcript = transcribe_audio(
            audio, loaded, job.options.whisper, job.options.speakers,
            progress=progress, source=job.source.name,
        )  # fmt: skip
        progress.write("exporting", 99, "uploading outputs", force=True)
        # Every registered format, so a later reuse of this job can serve any -f choice.
        formats = list(available_formats().values())
        stem = job.source.stem or "transcript"
        keys = [f"{output_prefix(job.id)}{stem}.{fmt.extension}" for fmt in formats]
        for key, text in zip(keys, render(transcript, formats), strict=True):
            self.storage.put_text(key, text)
        progress.check()
        return keys, ResultSummary.of(transcript)


class ProgressWriter:
    """The pipeline's progress callback: throttled MongoDB writes plus the stop checks."""

    def __init__(
        self,
        jobs: JobStore,
        job_id: str,
        worker: str,
        lease: Lease,
        state: WorkerState,
        started: float,
    ) -> None:
        self.jobs, self.job_id, self.worker = jobs, job_id, worker
        self.lease, self.state, self.started = lease, state, started
        self.has_diarizer = False
        self._last = 0.0

    def check(self, done: float = 0, total: float = 0) -> None:
        if self.lease.lost.is_set():
            self._raise_lost()
        if recovery.should_release(
            stopping=self.state.stopping.is_set(),
            interrupted=self.state.interrupted.is_set(),
            elapsed=time.monotonic() - self.started,
            done=done,
            total=total,
            grace=self.state.shutdown_grace,
        ):
            reason = (
                "spot interruption" if self.state.interrupted.is_set() else "worker shutting down"
            )
            raise ReleaseRequested(reason)

    def _raise_lost(self) -> None:
        doc = self.jobs.get(self.job_id)
        if doc.status is JobStatus.CANCELLED:
            raise CancelledError(f"job {self.job_id} cancelled")
        raise LeaseLost(self.job_id)

    def write(
        self,
        stage: str,
        percent: float,
        message: str,
        *,
        force: bool = False,
        checkpoint: float | None = None,
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        if not self.jobs.progress(
            self.job_id,
            self.worker,
            stage=stage,
            percent=percent,
            message=message,
            checkpoint=checkpoint,
        ):
            self._raise_lost()

    def __call__(self, stage: str, done: float, total: float) -> None:
        self.check(done, total)
        fraction = done / total if total else 0.0
        if stage == "transcribe":
            span = (0.0, 80.0) if self.has_diarizer else (0.0, 98.0)
            label = f"transcribing {done:.0f}/{total:.0f} s"
        else:
            span = (80.0, 98.0)
            label = f"{stage} {done:.0f}/{total:.0f}"
        percent = span[0] + (span[1] - span[0]) * fraction
        self.write(stage, percent, label, checkpoint=done if stage == "transcribe" else None)
