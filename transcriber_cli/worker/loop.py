"""The consumer loop: long-poll SQS, hand each message to a JobRunner, keep a heartbeat.

One consumer slot per device (``--gpus``: every GPU of the machine by default, one CPU copy
without a GPU), each with its own copy of the models; ``--concurrency N`` runs N consumer
threads per slot, sharing its models (jobs per GPU; auto: 16 on a GPU with room, else 4,
1 on a CPU, decided once the models are loaded). SIGTERM/SIGINT stop
taking work and let running jobs finish or release (``recovery.should_release``); a Spot
notice releases them at once; an EC2 rebalance recommendation (often minutes before the
notice) stops taking work while running jobs go on, checkpointing every window.
``--once`` handles one job and exits (giving up after one empty poll, or after
``--idle-exit`` seconds when given); with several consumers each handles at most one, and
the worker exits when all are done, never releasing a job another consumer runs;
``--idle-exit S`` alone exits after S seconds without work (so an instance can scale in).

Nothing here may end a consumer thread but a stop: a queue or store outage is logged and
waited out, and a bug in one delivery is logged with its traceback while the loop goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial

from transcriber_cli import __version__
from transcriber_cli.aws.pricing import Rate, hourly_rate
from transcriber_cli.aws.s3 import BOOT_PREFIX, Storage, StorageDenied, StorageNotFound
from transcriber_cli.aws.secrets import with_secrets
from transcriber_cli.aws.sqs import JobQueue
from transcriber_cli.config import Settings
from transcriber_cli.engine.device import free_gpu_memory
from transcriber_cli.engine.gpus import device_slots, slot_settings
from transcriber_cli.errors import Unavailable
from transcriber_cli.pipeline.models import ModelCache
from transcriber_cli.retry import MAX_DELAY, patiently
from transcriber_cli.store.mongo import BadJobDocument, JobNotFound, JobStore, now
from transcriber_cli.worker.devices import jobs_at_once, share
from transcriber_cli.worker.imds import Imds
from transcriber_cli.worker.job import JobRunner, WorkerState
from transcriber_cli.worker.spot import SpotWatcher
from transcriber_cli.worker.telemetry import Telemetry

log = logging.getLogger(__name__)
DLQ_SWEEP_SECONDS = 60
RATE_REFRESH_SECONDS = 3600
TURN_SECONDS = 0.2  # how long a consumer waits for its device's turn to poll


@dataclass
class WorkerSummary:
    worker_id: str
    outcomes: dict[str, int]
    reason: str  # why it stopped: once, idle, signal, spot


_REASONS = ("stopped", "once", "idle", "rebalance", "signal", "spot")  # by weight


class Worker:
    def __init__(
        self, settings: Settings, *, concurrency: int = 0, once: bool = False, idle_exit: float = 0
    ) -> None:
        self.settings = with_secrets(settings)
        self.concurrency = concurrency  # jobs at once per slot, as asked (0: auto)
        self.jobs_at_once = concurrency or None  # per slot, once known (auto: after the load)
        self.slots = device_slots(self.settings)
        self.once = once
        self.idle_exit = idle_exit
        self.imds = Imds(self.settings.imds_url)
        self.instance_id = self.imds.get("instance-id")
        self.instance_type = self.imds.get("instance-type")
        self.zone = self.imds.get("placement/availability-zone")
        self.life_cycle = self.imds.get("instance-life-cycle")  # "spot" or "on-demand"
        self._priced = threading.Event()
        host = self.instance_id or socket.gethostname()
        self.state = WorkerState(
            worker_id=f"{host}-{os.getpid()}-{uuid.uuid4().hex[:4]}",
            shutdown_grace=self.settings.worker_shutdown_grace,
        )
        self.jobs = JobStore.from_settings(self.settings)
        self.queue = JobQueue.from_settings(self.settings)
        self.storage = Storage.from_settings(self.settings)
        self.outcomes: dict[str, int] = {}
        self.reason = "stopped"
        self._reason_lock = threading.RLock()  # re-entrant: a signal handler may take it
        self._last_work = time.monotonic()
        self._busy = 0  # consumers with a delivery in hand (claiming it counts, before active)
        self._held: dict[JobRunner, int] = {}  # ... and per device
        self._turns: dict[JobRunner, threading.Lock] = {}  # one poll at a time per device
        self._consumer = threading.local()  # each consumer's own deferral (see _consume_one)
        self._lock = threading.Lock()
        self._quit = threading.Event()  # background threads (heartbeat, spot) stop on this
        self.draining = threading.Event()  # rebalance recommendation: take no new work

    # --- signals and notices --------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        with self._reason_lock:
            if reason == "signal" and self.reason == "signal":
                self.state.interrupted.set()  # a second signal: release running jobs now
            self._set_reason(reason)
            self.state.stopping.set()

    def _set_reason(self, reason: str) -> None:
        """The weightiest reason stands: a Spot notice over a signal over a rebalance over
        an idle or ``--once`` exit, whichever thread says it last."""
        with self._reason_lock:
            if _REASONS.index(reason) >= _REASONS.index(self.reason):
                self.reason = reason

    def _on_spot_notice(self, notice: dict) -> None:
        self.state.interrupted.set()
        self.request_stop("spot")

    def _on_rebalance(self, notice: dict) -> None:
        log.warning("rebalance recommendation: taking no new jobs; running jobs go on")
        self.draining.set()

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
        # A restart during an outage waits for MongoDB instead of exiting (and restarting).
        self.jobs.ensure_indexes()
        self._beat()
        self._boot_finished()
        telemetry = Telemetry.start(
            self.settings,
            worker_id=self.state.worker_id,
            instance_id=self.instance_id,
            instance_type=self.instance_type,
        )
        log.info("worker %s on %s", self.state.worker_id, self.devices)
        runners = [
            JobRunner(
                state=self.state,
                settings=slot_settings(self.settings, slot),
                queue=self.queue,
                storage=self.storage,
                jobs=self.jobs,
                models=ModelCache(),  # a copy of the models per device
                telemetry=telemetry,
                device=slot.label,
                several=len(self.slots) > 1,
                concurrency=self.concurrency,
            )
            for slot in self.slots
        ]
        self.runners = runners
        self._held = dict.fromkeys(runners, 0)
        self._turns = {runner: threading.Lock() for runner in runners}
        background = [
            threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True),
            threading.Thread(target=self._sweep_loop, name="dlq-sweep", daemon=True),
            threading.Thread(target=self._price_loop, args=(runners,), name="price", daemon=True),
        ]
        if self.imds.available:
            background.append(
                SpotWatcher(
                    self.imds,
                    self.settings.spot_poll_seconds,
                    self._on_spot_notice,
                    self._quit,
                    on_rebalance=self._on_rebalance,
                )
            )
        for thread in background:
            thread.start()
        self._warm_up(runners)  # the heartbeat goes on meanwhile
        for runner in runners:
            runner.concurrency = self._at_once(runner)
        self.jobs_at_once = max(runner.concurrency for runner in runners)
        # The first jobs get a price when EC2 answers at once; a silent one costs the wait
        # (5 s), once, unless a stop comes meanwhile: no job will be taken then.
        self._wait_for_price(self.settings.worker_price_wait)
        consumers = [
            threading.Thread(target=self._consume, args=(runner,),
                             name=f"consumer-{runner.device}-{i}")
            for runner in runners
            for i in range(runner.concurrency)
        ]  # fmt: skip
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
            except Exception as exc:  # it ages out of `fleet status` on its own
                log.warning("could not remove the heartbeat: %s", exc)
            finally:
                self.jobs.close()
                telemetry.close()
        return WorkerSummary(self.state.worker_id, dict(self.outcomes), self.reason)

    def _warm_up(self, runners: list[JobRunner]) -> None:
        """On a GPU, each device's default models load and run one window before the first
        poll (``ModelCache.warm_up``): a fresh machine compiles CTranslate2's kernels here,
        not in its first job. The first device compiles them; the others, at once after it,
        find them in the driver's cache. A model that cannot load is left for the first job
        to report, as it would be without this. A stop meanwhile is not kept waiting."""

        def one(runner: JobRunner) -> None:
            if self.state.stopping.is_set():
                return
            try:
                took = runner.models.warm_up(runner.settings)
            except Exception as exc:
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                log.warning("models not warmed up on %s: %s", runner.device, first)
                return
            if took is not None:
                log.info("models on %s loaded in %.1f s, warmed up in %.1f s", runner.device,
                         *took)  # fmt: skip

        for group in (runners[:1], runners[1:]):
            # daemons: a process told to stop does not wait for a warm-up to end
            threads = [threading.Thread(target=one, args=(runner,), daemon=True,
                                        name=f"warm-up-{runner.device}")
                       for runner in group]  # fmt: skip
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads) and not self.state.stopping.is_set():
                for thread in threads:
                    thread.join(0.2)
        with self._lock:
            self._last_work = time.monotonic()  # idle from now: the warm-up was work

    def _at_once(self, runner: JobRunner) -> int:
        """Jobs this slot takes at once (``devices.jobs_at_once``); auto reads the GPU's free
        memory with its models loaded (after the warm-up)."""
        device = runner.settings.device
        auto = not self.concurrency and not self.once and device == "cuda"
        free = free_gpu_memory(runner.settings.gpu_index) if auto else None
        jobs = jobs_at_once(self.concurrency, device, self.once, free)
        if auto:
            room = "unknown free" if free is None else f"{free / 2**30:.1f} GiB free"
            log.info("jobs at once on %s: %d (auto: %s)", runner.device, jobs, room)
        return jobs

    def _pause(self, failures: int) -> None:
        """Back off after a failed poll: 0.5 s doubling to 8 s, with jitter, stop-aware."""
        delay = min(0.5 * 2 ** min(failures, 5), MAX_DELAY) * random.uniform(0.5, 1.0)
        self.state.stopping.wait(delay)

    def _consume(self, runner: JobRunner) -> None:
        failures = 0
        while not self.state.stopping.is_set():
            if self.draining.is_set():
                if self.once:  # this consumer takes nothing more; the others' jobs go on
                    self._set_reason("rebalance")
                    return
                if self._idle_too_long():
                    self.request_stop("rebalance")
                self.state.stopping.wait(1)
                continue
            try:
                if self._consume_one(runner):
                    return  # --once: this consumer is done
                failures = 0
            except Unavailable as exc:
                if not failures:
                    log.warning("waiting for the queue or the job store: %s", exc)
                failures += 1
                self._pause(failures)
            except Exception:
                log.exception("unexpected error while handling a delivery; carrying on")
                failures += 1
                self._pause(failures)

    def _consume_one(self, runner: JobRunner) -> bool:
        """One poll and what it brought; True when ``--once`` ends this consumer. That ends
        only this thread: a stop would release the jobs other consumers are running."""
        if not self._take_turn(runner):
            return False
        try:
            messages = self.queue.receive(1, wait_seconds=self.settings.worker_wait_seconds)
        finally:
            self._turns[runner].release()
        if not messages:
            # --once alone gives up after one empty poll; with --idle-exit it waits that long.
            # A deferral is this consumer's own: another's must not keep it polling.
            deferred_until = getattr(self._consumer, "deferred_until", 0.0)
            waiting = time.monotonic() < deferred_until or (
                self.idle_exit and not self._idle_too_long()
            )
            if self.once and not waiting:
                self._set_reason("once")
                return True
            with self._lock:  # decided and done as one step with a delivery's _busy below
                if self._idle_locked():
                    self.request_stop("idle")
            return False
        message = messages[0]
        with self._lock:
            refused = self.state.stopping.is_set() or self.draining.is_set()
            if not refused:
                self._last_work = time.monotonic()
                self._busy += 1  # not idle while its claim waits out a MongoDB outage
                self._held[runner] += 1
        if refused:
            self.queue.release(message.receipt, 0)  # got one while stopping: give it back
            return False
        try:
            outcome = runner.handle(message)
        finally:
            with self._lock:
                self._busy -= 1
                self._held[runner] -= 1
                self._last_work = time.monotonic()
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self._beat()
        if outcome == "deferred":  # --once waits for it: it is the job we came for
            self._consumer.deferred_until = time.monotonic() + self.queue.visibility_timeout() * 2
        if self.once and outcome not in ("skipped", "deferred", "dropped", "held"):
            self._set_reason("once")
            return True
        return False

    def _take_turn(self, runner: JobRunner) -> bool:
        """Whether this consumer may poll now (then it holds its device's turn): one poll
        at a time per device, and only on a device that holds no more deliveries than
        another, so a backlog spreads over every GPU before one takes a second job (their
        consumers all poll the one queue). Otherwise it waits a moment, stop-aware."""
        turn = self._turns[runner]
        if not turn.acquire(timeout=TURN_SECONDS):
            return False
        with self._lock:
            behind = self._held[runner] > min(self._held.values())
        if behind:
            turn.release()
            self.state.stopping.wait(TURN_SECONDS)
            return False
        return True

    def _idle_too_long(self) -> bool:
        with self._lock:
            return self._idle_locked()

    def _idle_locked(self) -> bool:
        if not self.idle_exit or self.state.active or self._busy:
            return False
        return time.monotonic() - self._last_work >= self.idle_exit

    @property
    def devices(self) -> str:
        """``cuda:0, cuda:1``: what the worker runs on, for its first log line."""
        return ", ".join(slot.label for slot in self.slots)

    # --- heartbeat and dead letters -------------------------------------------------------------
    def _heartbeat(self) -> None:
        placed = dict(self.state.devices)  # a copy: consumers change it meanwhile
        self.jobs.heartbeat(
            self.state.worker_id,
            instance_id=self.instance_id,
            instance_type=self.instance_type,
            jobs=list(self.state.active),
            # Each device and the jobs on it: `fleet status` counts GPUs busy of all.
            gpus={s.label: [j for j, d in placed.items() if d == s.label] for s in self.slots},
            concurrency=self.jobs_at_once,
            version=__version__,
            pid=os.getpid(),
            heartbeat_seconds=self.settings.worker_heartbeat_seconds,
            draining=self.draining.is_set(),
            problem=self.state.problem,
        )

    def _boot_finished(self) -> None:
        """Close this machine's boot report (``cloud/boot_script.py``) with the first
        heartbeat, so `fleet status` shows how long the whole boot took. A worker not booted
        by the user data has no report: nothing to do."""
        key = f"{BOOT_PREFIX}{self.instance_id or socket.gethostname()}.json"
        try:
            report = json.loads(self.storage.get_text(key))
            if not isinstance(report, dict) or report.get("status") != "installed":
                return
            installed = dt.datetime.fromisoformat(str(report["updated"]))
            took = (dt.datetime.now(dt.UTC) - installed).total_seconds()
            report["steps"] = [*report.get("steps", []),
                               {"name": "first heartbeat", "seconds": round(took, 1)}]  # fmt: skip
            report.update(status="running", step=None, updated=now().isoformat())
            self.storage.put_bytes(key, json.dumps(report).encode())
        except (StorageNotFound, StorageDenied):  # denied: no report, to a role that cannot list
            return
        except Exception as exc:  # a report is never worth stopping a worker for
            log.warning("boot report not updated: %s", exc)

    def _beat(self) -> None:
        try:
            self._heartbeat()
        except Exception as exc:  # the heartbeat thread tries again
            log.warning("heartbeat failed: %s", exc)

    def _heartbeat_loop(self) -> None:
        while not self._quit.wait(self.settings.worker_heartbeat_seconds):
            self._beat()

    def _price_loop(self, runners: list[JobRunner]) -> None:
        """What an hour of this machine costs, for each job's cost: read at start and every
        hour (Spot prices move slowly), on a thread of its own, so an EC2 endpoint that does
        not answer (a subnet with endpoints for S3 and SQS only) never holds up anything."""
        while True:
            try:
                # each slot's share; its jobs split it by the time they share (job.py)
                rate = share(self._rate(), len(self.slots))
                for runner in runners:
                    runner.rate = rate
            except Exception as exc:  # unpriced jobs cost 0: say so, and try again later
                log.warning("cannot price this machine: %s", exc)
            self._priced.set()
            if self._quit.wait(RATE_REFRESH_SECONDS):
                return

    def _wait_for_price(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._priced.is_set() and not self.state.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._priced.wait(min(left, 0.1))

    def _rate(self) -> Rate | None:
        if not self.instance_type:
            return None  # off EC2: jobs are not priced
        from transcriber_cli.aws.session import client

        ec2 = client("ec2", self.settings.region, self.settings.profile)
        on_demand = self.life_cycle == "on-demand"
        rate = hourly_rate(ec2, self.instance_type, self.zone, on_demand=on_demand)
        if rate is not None:
            log.info("an hour of %s costs $%.4f (%s)", rate.instance_type, rate.usd_per_hour,
                     rate.basis)  # fmt: skip
        return rate

    def _sweep_loop(self) -> None:
        """Its own thread: a sweep waiting out an outage must not hold up the heartbeat."""
        while not self._quit.wait(DLQ_SWEEP_SECONDS):
            try:
                sweep_dead_letters(self.queue, self.jobs)
            except Exception as exc:
                log.warning("dead-letter sweep failed: %s", exc)


def sweep_dead_letters(queue: JobQueue, jobs: JobStore) -> dict[str, int]:
    """Settle the jobs whose message reached the DLQ.

    - the job failed: the message stays, for people and the alarm;
    - the job completed or was cancelled: the message is spent, it goes;
    - a worker holds a live lease: left alone (the holder's own message carries the job);
    - otherwise, claimed ``maxReceiveCount`` times without a result (a worker died each
      time): the job is marked failed; claimed fewer times (the receives went on deferrals
      while another worker held it, which then lost it): sent to the queue again."""
    counts = {"failed": 0, "requeued": 0, "cleared": 0}
    limit = queue.max_receive_count() or 1
    dlq = queue.dlq_url()
    for message in queue.dead_letters():
        if not message.job_id:
            continue
        try:
            job = jobs.get(message.job_id)
        except (JobNotFound, BadJobDocument):
            # No job, or one no worker can run (failed when it was claimed): its message
            # stays for people, and the sweep goes on to the messages after it.
            continue
        if job.status.value in ("completed", "cancelled"):
            queue.delete(message.receipt, url=dlq)
            counts["cleared"] += 1
        elif job.status.ended or (job.lease_until is not None and job.lease_until > now()):
            continue  # failed: kept for people; a live lease: its holder's message carries it
        elif job.attempts >= limit:
            reason = (
                f"message moved to the dead-letter queue after {job.attempts} "
                "attempts without a result"
            )
            if jobs.mark_dead(job.id, reason):
                counts["failed"] += 1
        else:
            patiently(partial(queue.send, job.id), patience=60, what="SQS")
            queue.delete(message.receipt, url=dlq)
            counts["requeued"] += 1
    return counts
