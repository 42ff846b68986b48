"""One delivered message: claim the task, run the local pipeline on its mp3, publish results.

While the job runs a lease thread keeps the SQS message invisible and the MongoDB lease
fresh; if the task stops being ours (cancelled, or taken over after our lease lapsed) the
progress callback raises and the pipeline stops at its next chunk.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transcriber_cli import media
from transcriber_cli.errors import CancelledError
from transcriber_cli.remote import storage as storage_mod
from transcriber_cli.remote import tasks as tasks_mod
from transcriber_cli.remote.queue import JobQueue, Message
from transcriber_cli.remote.storage import Storage
from transcriber_cli.remote.tasks import TaskStore
from transcriber_cli.worker import recovery

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0  # at most one progress write per second per job


class ReleaseRequested(Exception):
    """SIGTERM or a Spot notice: hand the job back instead of finishing it."""


class LeaseLost(Exception):
    """Another worker owns the task now (our lease lapsed)."""


@dataclass
class WorkerState:
    """Flags shared by the loop, the signal handlers and every running job."""

    worker_id: str
    shutdown_grace: float
    stopping: threading.Event = field(default_factory=threading.Event)
    interrupted: threading.Event = field(default_factory=threading.Event)
    active: dict[str, float] = field(default_factory=dict)  # task id -> start time


class Lease(threading.Thread):
    """Extend message visibility and the task lease every third of the visibility timeout."""

    def __init__(
        self,
        queue: JobQueue,
        tasks: TaskStore,
        message: Message,
        task_id: str,
        worker: str,
        timeout: int,
    ) -> None:
        super().__init__(name=f"lease-{task_id[:8]}", daemon=True)
        self.queue, self.tasks, self.message = queue, tasks, message
        self.task_id, self.worker, self.timeout = task_id, worker, timeout
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        interval = max(self.timeout / 3, 0.5)
        while not self.done.wait(interval):
            try:
                self.queue.extend(self.message.receipt, self.timeout)
                if not self.tasks.renew(self.task_id, self.worker, self.timeout):
                    self.lost.set()
                    return
            except Exception as exc:  # a blip must not kill the job; the next beat retries
                log.warning("lease renewal for %s failed: %s", self.task_id, exc)

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
        queue: JobQueue,
        storage: Storage,
        tasks: TaskStore,
        engines: Any,
        retry_delay: float,
    ) -> None:
        self.state = state
        self.queue = queue
        self.storage = storage
        self.tasks = tasks
        self.engines = engines
        self.retry_delay = retry_delay

    def handle(self, message: Message) -> str:
        """Process one message; returns what happened (for logs and tests)."""
        if message.task_id is None:
            log.warning("dropping a message without a task id: %r", message.body[:200])
            self.queue.delete(message.receipt)
            return "dropped"
        task_id = message.task_id
        timeout = self.queue.visibility_timeout()
        claimed = self.tasks.claim(task_id, self.state.worker_id, lease_seconds=timeout)
        current = claimed
        if claimed is None:
            try:
                current = self.tasks.get(task_id)
            except tasks_mod.TaskNotFound:
                current = None
        action = recovery.on_delivery(current, claimed is not None)
        if action is recovery.Delivery.ACK:
            log.info(
                "task %s is %s: acknowledging a duplicate delivery",
                task_id,
                current["status"] if current else "unknown",
            )
            self.queue.delete(message.receipt)
            return "skipped"
        if action is recovery.Delivery.DEFER:
            lease_until = current.get("lease_until") if current else None
            wait = timeout
            if lease_until is not None:
                wait = max(1, int((lease_until - tasks_mod.now()).total_seconds()) + 1)
            self.queue.release(message.receipt, wait)
            return "deferred"
        assert claimed is not None  # on_delivery only says PROCESS for a claimed task
        return self._process(message, claimed)

    # --- the job ----------------------------------------------------------------------------------
    def _process(self, message: Message, task: dict) -> str:
        task_id = task["_id"]
        worker = self.state.worker_id
        lease = Lease(
            self.queue, self.tasks, message, task_id, worker, self.queue.visibility_timeout()
        )
        lease.start()
        started = time.monotonic()
        self.state.active[task_id] = started
        log.info(
            "processing task %s (attempt %d, %s)",
            task_id,
            task.get("attempts", 1),
            task["source"]["name"],
        )
        try:
            outputs, transcript = self._run(task, lease, started)
            lease.stop()
            seconds = time.monotonic() - started
            if self.tasks.complete(
                task_id, worker, outputs=outputs, transcript=transcript, seconds=seconds
            ):
                self.queue.delete(message.receipt)
                log.info("completed task %s in %.1f s", task_id, seconds)
                return "completed"
            return self._lost(message, task_id)
        except CancelledError:
            lease.stop()
            self.storage.delete_prefix(storage_mod.output_prefix(task_id))
            self.queue.delete(message.receipt)
            log.info("task %s cancelled", task_id)
            return "cancelled"
        except LeaseLost:
            lease.stop()
            return self._lost(message, task_id)
        except ReleaseRequested as exc:
            lease.stop()
            self.tasks.release(task_id, worker, str(exc))
            self.queue.release(message.receipt, 0)
            log.info("released task %s: %s", task_id, exc)
            return "released"
        except Exception as exc:
            lease.stop()
            return self._failed(message, task_id, exc)
        finally:
            lease.stop()
            self.state.active.pop(task_id, None)

    def _lost(self, message: Message, task_id: str) -> str:
        doc = self.tasks.get(task_id)
        if doc["status"] == tasks_mod.CANCELLED:
            self.storage.delete_prefix(storage_mod.output_prefix(task_id))
            self.queue.delete(message.receipt)
            return "cancelled"
        # Another worker took over: its completion acknowledges its own delivery.
        log.warning("task %s is no longer ours (%s)", task_id, doc["status"])
        return "lost"

    def _failed(self, message: Message, task_id: str, exc: Exception) -> str:
        reason = str(exc) or type(exc).__name__
        decision = recovery.on_failure(
            exc, message.receive_count, self.queue.max_receive_count(), self.retry_delay
        )
        log.error(
            "task %s failed (delivery %d): %s",
            task_id,
            message.receive_count,
            reason,
            exc_info=not recovery.is_permanent(exc),
        )
        if decision.final:
            reason = f"{reason} (after {message.receive_count} attempt(s))"
        self.tasks.fail(task_id, self.state.worker_id, reason, final=decision.final)
        if decision.dead_letter_now:
            self.queue.move_to_dead_letter(message, reason)
        else:
            self.queue.release(message.receipt, decision.retry_after)
        return "failed" if decision.final else "retry"

    def _run(self, task: dict, lease: Lease, started: float) -> tuple[list[str], dict]:
        from transcriber_cli.pipeline import transcribe_audio

        task_id = task["_id"]
        worker = self.state.worker_id
        progress = ProgressWriter(self.tasks, task_id, worker, lease, self.state, started)
        progress.write("downloading", 0, "downloading audio", force=True)
        with tempfile.TemporaryDirectory(prefix="transcriber-worker-") as tmp:
            mp3 = self.storage.download_file(task["audio_key"], Path(tmp) / "audio.mp3")
            audio = media.decode_audio(mp3)
        progress.check()
        loaded = self.engines.get(task.get("options") or {})
        progress.write("transcribing", 0, "transcribing", force=True)
        progress.has_diarizer = loaded.diarizer is not None
        transcript = transcribe_audio(
            audio,
            engine=loaded.engine,
            options=loaded.whisper_options,
            diarizer=loaded.diarizer,
            diarize_options=loaded.diarize_options,
            diarization_note=loaded.diarization_note,
            progress=progress,
            source=task["source"]["name"],
        )
        progress.write("exporting", 99, "uploading outputs", force=True)
        stem = Path(task["source"]["name"]).stem or "transcript"
        prefix = storage_mod.output_prefix(task_id)
        rendered = [
            (f"{prefix}{stem}.{fmt.extension}", fmt.write(transcript))
            for fmt in self.engines.formats()
        ]
        for key, text in rendered:
            self.storage.put_text(key, text)
        progress.check()
        return [key for key, _ in rendered], transcript.model_dump(mode="json")


class ProgressWriter:
    """The pipeline's progress callback: throttled MongoDB writes plus the stop checks."""

    def __init__(
        self,
        tasks: TaskStore,
        task_id: str,
        worker: str,
        lease: Lease,
        state: WorkerState,
        started: float,
    ) -> None:
        self.tasks, self.task_id, self.worker = tasks, task_id, worker
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
        doc = self.tasks.get(self.task_id)
        if doc["status"] == tasks_mod.CANCELLED:
            raise CancelledError(f"task {self.task_id} cancelled")
        raise LeaseLost(self.task_id)

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
        if not self.tasks.progress(
            self.task_id,
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
