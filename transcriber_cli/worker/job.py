"""One delivered message: claim the job, run the shared pipeline on its mp3, publish results.

While the job runs a lease keeps the SQS message invisible and the MongoDB lease fresh; if
the job stops being ours (cancelled, or taken over after our lease lapsed) the progress
callback raises and the pipeline stops at its next chunk. Every finished window is
checkpointed (segments to S3, a summary to the document), so the next attempt, on this
worker or another, continues from there.

Outages are waited out (``retry.patiently``) where waiting keeps work: the claim, the
checkpoints, the uploads and the completion. A progress write or a lease renewal that fails
is simply tried again at the next beat. If a service stays away longer than the patience,
the job is left as it is: its lease lapses and its message comes back to whoever can reach
the services, and that worker resumes from the last checkpoint.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from transcriber_cli import media
from transcriber_cli.aws.pricing import Rate
from transcriber_cli.aws.s3 import (
    Storage,
    StorageDenied,
    StorageNotFound,
    audio_key,
    checkpoint_key,
    output_prefix,
)
from transcriber_cli.aws.sqs import JobQueue, Message
from transcriber_cli.config import Settings
from transcriber_cli.engine.gpus import window_length, windows_in_flight
from transcriber_cli.errors import (
    CancelledError,
    DiarizationUnavailable,
    ModelUnavailable,
    Unavailable,
)
from transcriber_cli.formats.registry import available_formats
from transcriber_cli.jobs.outputs import render
from transcriber_cli.jobs.results import ResultSummary
from transcriber_cli.pipeline.models import ModelCache
from transcriber_cli.pipeline.windows import WindowCheckpoint
from transcriber_cli.retry import patiently
from transcriber_cli.store.documents import Charge, Checkpoint, JobDocument, JobStatus
from transcriber_cli.store.mongo import BadJobDocument, JobNotFound, JobStore, now
from transcriber_cli.worker import policy, recovery
from transcriber_cli.worker.devices import SharedTime
from transcriber_cli.worker.telemetry import Telemetry

log = logging.getLogger(__name__)
T = TypeVar("T")

PROGRESS_INTERVAL = 1.0  # at most one progress write per second per job
DONE_PERCENT = 98.0  # where transcription and diarization end (outputs go up after)


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
    devices: dict[str, str] = field(default_factory=dict)  # job id -> the slot running it
    problem: str | None = None  # what keeps this worker from doing any job (a missing model)
    # job id -> the message its claim went through with (None while the claim is under way)
    _held: dict[str, str | None] = field(default_factory=dict)
    _held_lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, job_id: str) -> tuple[bool, str | None]:
        """Take a delivered job in hand, from its claim to its end: (True, None), or
        (False, the holder's message id, None while it claims) when another consumer of
        this worker has it. Every consumer claims under the one worker id, so the store
        cannot tell them apart: a copy of the message would let a second consumer take over
        the first one's lapsed lease (or mistake its claim for a lost reply) and run the
        job beside it, neither ever seeing that the job is not its own."""
        with self._held_lock:
            if job_id in self._held:
                return False, self._held[job_id]
            self._held[job_id] = None
            return True, None

    def claimed(self, job_id: str, message_id: str | None) -> None:
        with self._held_lock:
            self._held[job_id] = message_id

    def let_go(self, job_id: str) -> None:
        with self._held_lock:
            self._held.pop(job_id, None)


class SavedWindows(BaseModel):
    """The S3 checkpoint object. Bucket objects are untrusted input: it is validated, and
    used only for the job and options it names."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    options_key: str
    state: WindowCheckpoint


class Lease:
    """Two beats every third of the visibility timeout: one keeps the SQS message invisible,
    one extends the MongoDB lease. Separate threads, so a slow MongoDB never delays the
    extension that keeps the message from going to another worker."""

    def __init__(
        self,
        queue: JobQueue,
        jobs: JobStore,
        message: Message,
        job_id: str,
        worker: str,
        timeout: int,
    ) -> None:
        self.queue, self.jobs, self.message = queue, jobs, message
        self.job_id, self.worker, self.timeout = job_id, worker, timeout
        self.done = threading.Event()
        self.lost = threading.Event()
        self._threads = [
            threading.Thread(target=self._beat, args=(self._extend,), daemon=True,
                             name=f"visibility-{job_id[:8]}"),
            threading.Thread(target=self._beat, args=(self._renew,), daemon=True,
                             name=f"lease-{job_id[:8]}"),
        ]  # fmt: skip

    def start(self) -> None:
        self.start_visibility()
        self.start_renewal()

    def start_visibility(self) -> None:
        """The message's beat alone: from delivery, so it stays hidden while a claim waits
        out a MongoDB outage (no other consumer or worker gets it back meanwhile)."""
        self._threads[0].start()

    def start_renewal(self) -> None:
        """The MongoDB lease's beat: once the job is claimed."""
        self._threads[1].start()

    def _beat(self, action: Callable[[], None]) -> None:
        interval = max(self.timeout / 3, 0.5)
        while not self.done.wait(interval):
            try:
                action()
            except Exception as exc:  # a blip must not kill the job; the next beat retries
                log.warning("lease beat for %s failed: %s", self.job_id, exc)

    def _extend(self) -> None:
        self.queue.extend(self.message.receipt, self.timeout)

    def _renew(self) -> None:
        if not self.jobs.renew(self.job_id, self.worker, self.timeout):
            self.lost.set()
            self.done.set()

    def stop(self) -> None:
        """Stop renewing and wait for a beat in flight: the job's final queue operation
        (delete, or release with a delay) must not be followed by one more extension."""
        self.done.set()
        for thread in self._threads:
            if thread.is_alive() and threading.current_thread() is not thread:
                thread.join(timeout=60)


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
        telemetry: Telemetry | None = None,
        rate: Rate | None = None,
        device: str | None = None,
        several: bool = False,
        concurrency: int = 1,
    ) -> None:
        self.rate = rate  # what an hour of this machine costs (None off EC2)
        self.device = device  # the slot's label ("cuda:1", "cpu#0"), for heartbeats and logs
        # ... and on each claim when the worker has several: a one-device worker writes no
        # `gpu` field, so clients of 0.1.0 (which refuse unknown fields) read its jobs.
        self.several = several
        self.concurrency = concurrency  # jobs at once on this slot (its consumer threads)
        self.clock = SharedTime()  # the slot's time, split among the jobs running on it
        self.state = state
        self.settings = settings
        self.queue = queue
        self.storage = storage
        self.jobs = jobs
        self.models = models
        self.telemetry = telemetry or Telemetry.off()

    def _wait(self, call: Callable[[], T], what: str) -> T:
        return patiently(call, patience=self.settings.outage_patience, what=what)

    def _quietly(self, call: Callable[[], object], what: str) -> None:
        """A final queue or store step whose failure loses nothing: the message comes back
        and the next delivery sees the job's state."""
        try:
            call()
        except Exception as exc:
            log.warning("%s failed: %s", what, exc)

    def handle(self, message: Message) -> str:
        """Process one message; returns what happened (for logs and tests)."""
        if message.job_id is None:
            log.warning("dropping a message without a job id: %r", message.body[:200])
            self.queue.delete(message.receipt)
            return "dropped"
        job_id = message.job_id
        held, holder = self.state.hold(job_id)
        if not held:
            return self._held_here(message, job_id, holder)
        try:
            return self._claim(message, job_id)
        finally:
            self.state.let_go(job_id)

    def _claim(self, message: Message, job_id: str) -> str:
        worker, timeout = self.state.worker_id, self.queue.visibility_timeout()
        lease = Lease(self.queue, self.jobs, message, job_id, worker, timeout)
        lease.start_visibility()
        current = None
        try:
            claimed = self.jobs.claim(
                job_id, worker, lease_seconds=timeout, message_id=message.message_id,
                gpu=self.device if self.several else None,
            )  # fmt: skip
            if claimed is None:
                current = self._current(job_id)
                if (
                    current is not None
                    and current.status is JobStatus.PROCESSING
                    and current.worker == worker
                    and current.message_id == message.message_id
                ):  # our claim went through, only its reply was lost (no other holds it)
                    claimed = current
        except BadJobDocument as exc:
            lease.stop()
            return self._bad_document(message, job_id, str(exc))
        except BaseException:
            lease.stop()
            raise
        if claimed is None:
            lease.stop()
            return self._not_claimed(message, job_id, current)
        self.state.claimed(job_id, message.message_id)
        return self._process(message, claimed, lease)

    def _held_here(self, message: Message, job_id: str, holder: str | None) -> str:
        """A delivery of a job another consumer of this worker has in hand, decided here (no
        store read, which an outage would hold up). Once that consumer's claim went
        through, a copy is acknowledged (the holder keeps its own message), and that message
        itself, back early (an extension failed), is hidden again for a visibility timeout.
        While the claim is under way nothing is deleted: the message may be another
        worker's, whose job this claim will not get; it comes back after a timeout."""
        if holder is not None and holder != message.message_id:
            log.info("job %s runs here: acknowledging a duplicate delivery", job_id)
            self.queue.delete(message.receipt)
        else:
            self.queue.release(message.receipt, self.queue.visibility_timeout())
            log.info("job %s is in hand here: its delivery hidden again", job_id)
        return "held"

    def _current(self, job_id: str) -> JobDocument | None:
        try:
            return self.jobs.get(job_id)
        except (JobNotFound, BadJobDocument):
            return None

    def _not_claimed(self, message: Message, job_id: str, current: JobDocument | None) -> str:
        """A delivery of a job someone holds (or that ended): a copy is acknowledged, the
        holder's own message deferred until its lease ends."""
        action = recovery.on_delivery(current, False, message.message_id)
        if action is recovery.Delivery.ACK:
            log.info(
                "job %s is %s: acknowledging a duplicate delivery",
                job_id,
                current.status.value if current else "unknown",
            )
            self.queue.delete(message.receipt)
            return "skipped"
        wait = self.queue.visibility_timeout()
        lease_until = current.lease_until if current else None
        if lease_until is not None:
            wait = max(1, int((lease_until - now()).total_seconds()) + 1)
        self.queue.release(message.receipt, wait)
        return "deferred"

    def _bad_document(self, message: Message, job_id: str, reason: str) -> str:
        """A document no worker can run (we claimed it, but it does not fit the schema)."""
        log.error("job %s: %s", job_id, reason)
        self._quietly(
            lambda: self.jobs.fail(job_id, self.state.worker_id, reason, final=True),
            f"marking job {job_id} failed",
        )
        self.queue.move_to_dead_letter(message, reason)
        return "failed"

    # --- the job ----------------------------------------------------------------------------------
    def charge(self, seconds: float, share: int) -> Charge:
        """An attempt's cost, once its work on the device is over: ``seconds`` of wall time,
        of which it had the device's ``clock.stop(share)`` (jobs at once split its time)."""
        rate, had = self.rate, self.clock.stop(share)
        if rate is None:
            return Charge(seconds, shared=had)
        basis = rate.basis
        if had < seconds - 0.5:  # a rounding's worth is not worth a word
            basis = f"{basis}; the device shared with other jobs: {had:.0f} s of {seconds:.0f} s"
        return Charge(seconds, rate.instance_type, rate.usd_per_hour, basis, shared=had)

    def _process(self, message: Message, job: JobDocument, lease: Lease) -> str:
        started = time.monotonic()
        share = self.clock.start()
        try:
            outcome = self._attempt(message, job, lease, share)
            if outcome != "completed":  # a completion adds its own cost in the same update
                spent = self.charge(time.monotonic() - started, share)
                self._quietly(
                    lambda: self.jobs.charge(job.id, spent), f"recording the cost of {job.id}"
                )
            gpu_seconds = self.clock.stop(share)
        finally:
            self.clock.forget(share)
        self.telemetry.job_finished(
            job_id=job.id,
            outcome=outcome,
            audio_seconds=job.source.duration,
            gpu_seconds=gpu_seconds,  # its share of the device, as its cost counts it
            attempts=job.attempts,
        )
        return outcome

    def _attempt(self, message: Message, job: JobDocument, lease: Lease, share: int) -> str:
        job_id = job.id
        worker = self.state.worker_id
        lease.start_renewal()
        started = time.monotonic()
        self.state.active[job_id] = started
        if self.device:
            self.state.devices[job_id] = self.device
        log.info(
            "processing job %s on %s (attempt %d, %s, %.0f s done before)",
            job_id, self.device or "the default device", job.attempts, job.source.name,
            job.checkpoint.seconds,
        )  # fmt: skip
        attempt = Attempt(self, job, lease, started)
        try:
            outputs, result = attempt.run()
            lease.stop()
            seconds = time.monotonic() - started
            done = self.jobs.complete(
                job_id, worker, outputs=outputs, result=result, seconds=seconds,
                checkpoint=attempt.saved, charge=self.charge(seconds, share),
            )  # fmt: skip
            if done:
                self.state.problem = None
                self._quietly(lambda: self.queue.delete(message.receipt), "deleting the message")
                if attempt.wrote:
                    self._quietly(
                        lambda: self.storage.delete(checkpoint_key(job_id)),
                        "removing the checkpoint",
                    )
                log.info("completed job %s in %.1f s", job_id, seconds)
                return "completed"
            return self._lost(message, job_id)
        except CancelledError:
            lease.stop()
            self._cancelled(message, job_id)
            return "cancelled"
        except LeaseLost:
            lease.stop()
            return self._lost(message, job_id)
        except ReleaseRequested as exc:
            lease.stop()
            why = str(exc)
            self._quietly(
                lambda: self.jobs.release(job_id, worker, why, percent=attempt.percent()),
                f"releasing job {job_id}",
            )
            self._quietly(lambda: self.queue.release(message.receipt, 0), "releasing the message")
            log.info("released job %s: %s (%s)", job_id, why, attempt.describe())
            return "released"
        except Unavailable as exc:
            # Waited as long as allowed: keep nothing, break nothing. The lease lapses, the
            # message comes back, and whoever gets it resumes from the checkpoint.
            lease.stop()
            log.error("job %s left for another attempt: %s (%s)", job_id, exc, attempt.describe())
            return "unavailable"
        except Exception as exc:
            lease.stop()
            return self._failed(message, job, exc)
        finally:
            lease.stop()
            self.state.active.pop(job_id, None)
            self.state.devices.pop(job_id, None)

    def _cancelled(self, message: Message, job_id: str) -> None:
        storage = self.storage
        self._quietly(partial(storage.delete_prefix, output_prefix(job_id)), "removing outputs")
        self._quietly(partial(storage.delete, checkpoint_key(job_id)), "removing the checkpoint")
        self._quietly(lambda: self.queue.delete(message.receipt), "deleting the message")
        log.info("job %s cancelled", job_id)

    def _lost(self, message: Message, job_id: str) -> str:
        doc = self.jobs.get(job_id)
        if doc.status is JobStatus.CANCELLED:
            self._cancelled(message, job_id)
            return "cancelled"
        # Another worker took over: its completion acknowledges its own delivery.
        log.warning("job %s is no longer ours (%s)", job_id, doc.status.value)
        return "lost"

    def _failed(self, message: Message, job: JobDocument, exc: Exception) -> str:
        job_id = job.id
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, ModelUnavailable | DiarizationUnavailable):
            self.state.problem = reason  # in the heartbeat: `fleet status` says it
        # The job's attempts (its claims less its releases), not the message's receives: the
        # receives count Spot releases and deferrals too, and a first real failure after two
        # releases was the last. The sweep counts the same way (worker/loop.py).
        decision = recovery.on_failure(
            exc,
            job.attempts,
            self.queue.max_receive_count(),
            self.settings.worker_retry_delay,
            message.receive_count,
        )
        log.error(
            "job %s failed (attempt %d, delivery %d): %s",
            job_id,
            job.attempts,
            message.receive_count,
            reason,
            exc_info=not recovery.is_permanent(exc),
        )
        if decision.final:
            reason = f"{reason} (after {job.attempts} attempt(s))"
        self._quietly(
            lambda: self.jobs.fail(job_id, self.state.worker_id, reason, final=decision.final),
            f"recording the failure of job {job_id}",
        )
        if decision.dead_letter_now:
            self._quietly(lambda: self.queue.move_to_dead_letter(message, reason), "dead-lettering")
        else:
            self._quietly(
                lambda: self.queue.release(message.receipt, decision.retry_after),
                "releasing the message",
            )
        return "failed" if decision.final else "retry"


class Attempt:
    """One claim of one job: download, resume, transcribe window by window, upload."""

    def __init__(self, runner: JobRunner, job: JobDocument, lease: Lease, started: float) -> None:
        self.runner, self.job, self.lease = runner, job, lease
        self.saved = job.checkpoint  # what the document says is done
        self.wrote = job.checkpoint.windows > 0  # a checkpoint object exists in S3
        self.audio_seconds = job.source.duration  # until the audio is decoded
        self.progress = ProgressWriter(runner.jobs, job.id, runner.state.worker_id, lease,
                                       runner.state, started, job.source.duration)  # fmt: skip

    def percent(self) -> float:
        return self.progress.percent_of(self.saved.seconds)

    def describe(self) -> str:
        return f"{self.saved.seconds:.0f} of {self.audio_seconds:.0f} s checkpointed"

    def _resume(self) -> WindowCheckpoint | None:
        """The finished windows of earlier attempts, when their object is sound."""
        if not self.saved.windows:
            return None
        key = checkpoint_key(self.job.id)
        try:
            raw = self.runner._wait(lambda: self.runner.storage.get_text(key), "S3")
            saved = SavedWindows.model_validate_json(raw)
        except StorageNotFound:
            log.warning("job %s: checkpoint object missing; starting over", self.job.id)
            return None
        except StorageDenied:
            # Expired with temp/ (or removed): the role may not list the bucket, so AWS
            # answers 403. Starting over costs time only; failing would lose the job.
            log.warning("job %s: checkpoint object missing or unreadable (AWS denied the "
                        "read); starting over", self.job.id)  # fmt: skip
            return None
        except ValidationError as exc:
            log.warning("job %s: checkpoint object invalid (%s); starting over", self.job.id,
                        exc.errors()[0].get("msg"))  # fmt: skip
            return None
        state = saved.state
        if (
            saved.job_id != self.job.id
            or saved.options_key != self.job.options_key
            or state.seconds > self.audio_seconds + 1
        ):
            log.warning("job %s: checkpoint object is not this job's; starting over", self.job.id)
            return None
        return state

    def fence(self) -> None:
        """Renew the lease now, waiting out an outage, before writing to the job's objects:
        a worker cut off long enough to lose the job to another must not overwrite what the
        new holder writes. A fresh lease is ours for a whole visibility timeout, far longer
        than the writes that follow."""
        runner, job = self.runner, self.job
        ours = runner.jobs.renew(job.id, runner.state.worker_id, self.lease.timeout,
                                 patience=runner.jobs.patience)  # fmt: skip
        if not ours:
            self.lease.lost.set()
            self.progress.raise_lost()

    def _checkpoint(self, state: WindowCheckpoint, decoded: float) -> None:
        """Segments to S3 first, then the document: the document never points past what
        S3 holds. A job of one window writes nothing once no work is left to protect (its
        window without speakers to find, or its diarization): the outputs follow at once,
        and redoing it would cost little. A longer job checkpoints every step, the last too,
        so an interruption during the upload redoes nothing."""
        runner, job = self.runner, self.job
        finished = state.seconds >= self.audio_seconds - 0.05 or state.turns is not None
        short = state.windows == 1
        if short and finished and (state.turns is not None or not self.progress.has_diarizer):
            self.saved = self.saved.model_copy(update={
                "seconds": state.seconds, "windows": state.windows,
                "diarized": state.turns is not None,
                "decoded_seconds": round(self.saved.decoded_seconds + decoded, 3),
            })  # fmt: skip
            return
        self.fence()
        body = SavedWindows(job_id=job.id, options_key=job.options_key, state=state)
        key = checkpoint_key(job.id)
        runner._wait(
            lambda: runner.storage.put_text(key, body.model_dump_json(), "application/json"),
            "S3",
        )
        self.wrote = True
        summary = Checkpoint(
            seconds=state.seconds,
            windows=state.windows,
            diarized=state.turns is not None,
            decoded_seconds=round(self.saved.decoded_seconds + decoded, 3),
            updated=now(),
        )
        percent = self.progress.percent_of(state.seconds)
        ours = runner.jobs.save_checkpoint(
            job.id, runner.state.worker_id, summary, percent=percent,
            message=f"checkpoint: {state.seconds:.0f} of {self.audio_seconds:.0f} s",
        )  # fmt: skip
        if not ours:
            self.progress.raise_lost()
        self.saved = summary
        log.info(
            "job %s: checkpoint after window %d (%.0f of %.0f s; %.1f s decoded in all)",
            job.id, state.windows, state.seconds, self.audio_seconds, summary.decoded_seconds,
        )  # fmt: skip

    def run(self) -> tuple[list[str], ResultSummary]:
        runner, job, progress = self.runner, self.job, self.progress
        policy.check_allowed(job.options, runner.settings)
        progress.write("downloading", self.percent(), "downloading audio", force=True)
        # The key comes from the job id, never from the document.
        key = audio_key(job.id)
        policy.check_upload_size(runner._wait(lambda: runner.storage.size(key), "S3"),
                                 runner.settings)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="transcriber-worker-") as tmp:
            mp3 = runner._wait(
                lambda: runner.storage.download_file(key, Path(tmp) / "audio.mp3"), "S3"
            )
            # Again: the object may have been replaced between the HEAD and the download.
            policy.check_upload_size(mp3.stat().st_size, runner.settings)
            # Decoding stops just past the limit, whatever length the file's header claims.
            limit = runner.settings.max_duration_hours * 3600 + policy.DURATION_SLACK * 2
            audio = media.decode(mp3, max_seconds=limit)  # read a window at a time
        try:
            return self._transcribe(audio)
        finally:
            audio.close()  # its temporary file goes now, not when collected

    def _transcribe(self, audio: media.DecodedAudio) -> tuple[list[str], ResultSummary]:
        from transcriber_cli.pipeline.flow import transcribe_audio

        runner, job, progress = self.runner, self.job, self.progress
        # The decoded length, not the client's probe (a document's field; 0 for a browser's
        # webm without one): what a checkpoint is checked against, and progress measured by.
        self.audio_seconds = len(audio) / media.SAMPLE_RATE
        progress.duration = self.audio_seconds
        policy.check_duration(self.audio_seconds, runner.settings)
        progress.check()
        resume = self._resume()
        loaded = runner.models.get(job.options.apply(runner.settings))
        progress.check()  # a stop during a long load releases now, not after a first batch
        progress.has_diarizer = loaded.diarizer is not None
        note = f"resuming at {resume.seconds:.0f} s" if resume else "transcribing"
        progress.write("transcribing", self.percent(), note, force=True)
        engine, running = loaded.engine, runner.clock.running
        in_flight = windows_in_flight(runner.settings, engine.device, running)
        transcript = transcribe_audio(
            audio, loaded, job.options.whisper, job.options.speakers,
            progress=progress, source=job.source.name,
            # a job alone on the GPU: windows as long as a full decoder call's speech
            window_seconds=window_length(runner.settings, engine.device, running <= 1,
                                         engine.batch_size(job.options.whisper),
                                         engine.decoder_layers, self.audio_seconds, in_flight),
            resume=resume, on_checkpoint=self._checkpoint,
            # four windows for a job alone on the GPU, one beside others (which fill calls)
            windows_in_flight=in_flight,
        )  # fmt: skip
        progress.write("exporting", 99, "uploading outputs", force=True)
        self.fence()
        # The default formats and what the job asked for: a later reuse that wants another
        # opt-in format renders it on the client from the JSON. Not every registered one: an
        # opt-in format may cost money (the summary plugin calls a paid API).
        formats = [f for f in available_formats().values() if f.default or f.name in job.formats]
        stem = job.source.stem or "transcript"
        keys = [f"{output_prefix(job.id)}{stem}.{fmt.extension}" for fmt in formats]
        # One PUT per format, all at once: on S3 each is a round trip, and there are seven.
        texts = render(transcript, formats)
        with ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="upload") as pool:
            uploads = [
                pool.submit(runner._wait, partial(runner.storage.put_text, key, text), "S3")
                for key, text in zip(keys, texts, strict=True)
            ]
            for upload in uploads:
                upload.result()
        # Only a lost lease stops us now: a shutdown inside the grace keeps the finished work.
        progress.check_lost()
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
        duration: float = 0.0,
    ) -> None:
        self.jobs, self.job_id, self.worker = jobs, job_id, worker
        self.lease, self.state, self.started = lease, state, started
        self.duration = duration
        self.has_diarizer = False
        self._last = 0.0
        self._first_percent: float | None = None  # where this attempt's progress began

    def percent_of(self, seconds: float) -> float:
        span = 80.0 if self.has_diarizer else DONE_PERCENT
        return span * seconds / self.duration if self.duration else 0.0

    def check_lost(self) -> None:
        if self.lease.lost.is_set():
            self.raise_lost()

    def check(self, percent: float | None = None) -> None:
        """Stop if the job is lost, or released for a stop it will not finish before.

        The estimate is in the one percent scale of all stages (a diarization's seconds
        count from 0 again), and counts only what this attempt did, not what it resumed
        from."""
        self.check_lost()
        if self._first_percent is None and percent is not None:
            self._first_percent = percent
        base = self._first_percent or 0.0
        done = 0.0 if percent is None else percent - base
        if recovery.should_release(
            stopping=self.state.stopping.is_set(),
            interrupted=self.state.interrupted.is_set(),
            elapsed=time.monotonic() - self.started,
            done=done,
            total=DONE_PERCENT - base,
            grace=self.state.shutdown_grace,
        ):
            reason = (
                "spot interruption" if self.state.interrupted.is_set() else "worker shutting down"
            )
            raise ReleaseRequested(reason)

    def raise_lost(self) -> None:
        doc = self.jobs.get(self.job_id)
        if doc.status is JobStatus.CANCELLED:
            raise CancelledError(f"job {self.job_id} cancelled")
        raise LeaseLost(self.job_id)

    def write(self, stage: str, percent: float, message: str, *, force: bool = False) -> None:
        """Best effort: a write MongoDB does not take now is skipped (the next one carries
        newer numbers); only "not ours any more" stops the job."""
        now_ = time.monotonic()
        if not force and now_ - self._last < PROGRESS_INTERVAL:
            return
        self._last = now_
        try:
            ours = self.jobs.progress(
                self.job_id, self.worker, stage=stage, percent=percent, message=message,
                patience=0,
            )  # fmt: skip
        except Unavailable as exc:
            log.debug("progress of %s not written: %s", self.job_id, exc)
            return
        if not ours:
            self.raise_lost()

    def __call__(self, stage: str, done: float, total: float) -> None:
        fraction = done / total if total else 0.0
        if stage == "transcribe":
            span = (0.0, 80.0) if self.has_diarizer else (0.0, DONE_PERCENT)
            label = f"transcribing {done:.0f}/{total:.0f} s"
        else:
            span = (80.0, DONE_PERCENT)
            label = f"{stage} {done:.0f}/{total:.0f}"
        percent = span[0] + (span[1] - span[0]) * fraction
        self.check(percent if total else None)
        self.write(stage, percent, label)
