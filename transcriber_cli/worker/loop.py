"""The consumer loop: long-poll SQS, hand each message to a JobRunner, keep a heartbeat.

``--concurrency N`` runs N consumer threads sharing one loaded model. SIGTERM/SIGINT stop
taking work and let running jobs finish or release (``recovery.should_release``); a Spot
notice releases them at once. ``--once`` handles one job and exits (giving up after one
empty poll, or after ``--idle-exit`` seconds when given); ``--idle-exit S``
alone exits after S seconds without work (so an instance can scale in).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from transcriber_cli import __version__
from transcriber_cli.aws.s3 import Storage
from transcriber_cli.aws.secrets import with_secrets
from transcriber_cli.aws.sqs import JobQueue
from transcriber_cli.config import Settings
from transcriber_cli.pipeline.models import ModelCache
from transcriber_cli.store.mongo import JobStore
from transcriber_cli.worker.imds import Imds
from transcriber_cli.worker.job import JobRunner, WorkerState
from transcriber_cli.worker.spot import SpotWatcher

log = logging.getLogger(__name__)
DLQ_SWEEP_SECONDS = 60


@dataclass
class WorkerSummary:
    worker_id: str
    outcomes: dict[str, int]
    reason: str  # why it stopped: once, idle, signal, spot


class Worker:
    def __init__(
        self, settings: Settings, *, concurrency: int = 1, once: bool = False, idle_exit: float = 0
    ) -> None:
        self.settings = with_secrets(settings)
        self.concurrency = concurrency
        self.once = once
        self.idle_exit = idle_exit
        self.imds = Imds(self.settings.imds_url)
        self.instance_id = self.imds.get("instance-id")
        self.instance_type = self.imds.get("instance-type")
        host = self.instance_id or socket.gethostname()
        self.state = WorkerState(
            worker_id=f"{host}-{os.getpid()}-{uuid.uuid4().hex[:4]}",
            shutdown_grace=self.settings.worker_shutdown_grace,
        )
        self.jobs = JobStore.from_settings(self.settings)
        self.queue = JobQueue.from_settings(self.settings)
        self.storage = Storage.from_settings(self.settings)
        self.models = ModelCache()
        self.outcomes: dict[str, int] = {}
        self.reason = "stopped"
        self._last_work = time.monotonic()
        self._deferred_until = 0.0
        self._lock = threading.Lock()
        self._quit = threading.Event()  # background threads (heartbeat, spot) stop on this

    # --- signals and notices --------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if self.state.stopping.is_set() and reason == "signal":
            self.state.interrupted.set()  # a second signal: release running jobs now
        self.reason = reason
        self.state.stopping.set()

    def _on_spot_notice(self, notice: dict) -> None:
        self.state.interrupted.set()
        self.request_stop("spot")

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: object) -> None:
            log.warning(
                "received %s: finishing or releasing current jobs", signal.Signals(signum).name
            )
            self.request_stop("signal")

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> WorkerSummary:
        self.jobs.ensure_indexes()
        self._heartbeat()
        runner = JobRunner(
            state=self.state,
            settings=self.settings,
            queue=self.queue,
            storage=self.storage,
            jobs=self.jobs,
            models=self.models,
        )
        background = [threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)]
        if self.imds.available:
            background.append(
                SpotWatcher(
                    self.imds, self.settings.spot_poll_seconds, self._on_spot_notice, self._quit
                )
            )
        for thread in background:
            thread.start()
        consumers = [
            threading.Thread(target=self._consume, args=(runner,), name=f"consumer-{i}")
            for i in range(self.concurrency)
        ]
        for thread in consumers:
            thread.start()
        try:
            while any(t.is_alive() for t in consumers):
                for t in consumers:
                    t.join(timeout=0.2)
        finally:
            self._quit.set()
            try:
                self.jobs.remove_worker(self.state.worker_id)
            finally:
                self.jobs.close()
        return WorkerSummary(self.state.worker_id, dict(self.outcomes), self.reason)

    def _consume(self, runner: JobRunner) -> None:
        while not self.state.stopping.is_set():
            messages = self.queue.receive(1, wait_seconds=self.settings.worker_wait_seconds)
            if not messages:
                # --once alone gives up after one empty poll; with --idle-exit it waits that long.
                waiting = time.monotonic() < self._deferred_until or (
                    self.idle_exit and not self._idle_too_long()
                )
                if self.once and not waiting:
                    self.request_stop("once")
                elif self._idle_too_long():
                    self.request_stop("idle")
                continue
            message = messages[0]
            if self.state.stopping.is_set():  # got one while shutting down: give it back
                self.queue.release(message.receipt, 0)
                break
            with self._lock:
                self._last_work = time.monotonic()
            outcome = runner.handle(message)
            with self._lock:
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                self._last_work = time.monotonic()
            self._heartbeat()
            if outcome == "deferred":  # --once waits for it: it is the job we came for
                with self._lock:
                    self._deferred_until = time.monotonic() + self.queue.visibility_timeout() * 2
            if self.once and outcome not in ("skipped", "deferred", "dropped"):
                self.request_stop("once")

    def _idle_too_long(self) -> bool:
        if not self.idle_exit or self.state.active:
            return False
        with self._lock:
            return time.monotonic() - self._last_work >= self.idle_exit

    # --- heartbeat and dead letters -------------------------------------------------------------
    def _heartbeat(self) -> None:
        self.jobs.heartbeat(
            self.state.worker_id,
            instance_id=self.instance_id,
            instance_type=self.instance_type,
            jobs=list(self.state.active),
            concurrency=self.concurrency,
            version=__version__,
            pid=os.getpid(),
        )

    def _heartbeat_loop(self) -> None:
        last_sweep = 0.0
        while not self._quit.wait(self.settings.worker_heartbeat_seconds):
            try:
                self._heartbeat()
                if time.monotonic() - last_sweep >= DLQ_SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    sweep_dead_letters(self.queue, self.jobs)
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)


def sweep_dead_letters(queue: JobQueue, jobs: JobStore) -> int:
    """Mark jobs whose message reached the DLQ as failed (e.g. a worker crashed each time)."""
    marked = 0
    for message in queue.dead_letters():
        if message.job_id and jobs.mark_dead(
            message.job_id,
            f"message moved to the dead-letter queue after {queue.max_receive_count()} "
            "deliveries without a result",
        ):
            marked += 1
    return marked
