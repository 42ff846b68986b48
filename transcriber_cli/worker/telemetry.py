"""Worker telemetry: JSON log lines shipped to the stack's CloudWatch log group, and per-job
metrics in the ``Transcriber`` namespace.

Neither may slow or stop a job. Log records and metric data go into bounded buffers that
daemon threads drain; when CloudWatch is unreachable the oldest entries are dropped (and
counted), never the worker. Secrets the worker holds (the MongoDB URL and the HF token from
SSM) are scrubbed from every line, in case an exception message quotes them.

The loop calls, in this order::

    telemetry = Telemetry.start(settings, worker_id=..., instance_id=..., instance_type=...)
    telemetry.job_finished(job_id=..., outcome="completed", audio_seconds=..., ...)
    telemetry.close()
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import error_code, is_transient
from transcriber_cli.redaction import redact

log = logging.getLogger(__name__)
T = TypeVar("T")

NAMESPACE = "Transcriber"
ROOT_LOGGER = "transcriber_cli"

# --- JSON lines ----------------------------------------------------------------------------------
# What a log call may add with ``extra={...}``; any other record attribute stays out, so a
# careless ``extra`` cannot ship a settings object or a document.
EXTRA_FIELDS = (
    "job_id", "stage", "outcome", "attempt", "attempts", "delivery",
    "seconds", "audio_seconds", "gpu_seconds", "duration",
)  # fmt: skip
MESSAGE_CHARS = 8_000
EXCEPTION_CHARS = 16_000  # the tail: the end of a traceback says what failed
EXTRA_CHARS = 500


def _value(value: Any) -> Any:
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN is not JSON
    return redact(str(value))[:EXTRA_CHARS]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, worker, thread, the
    whitelisted extras and a redacted traceback."""

    def __init__(self, worker_id: str | None = None) -> None:
        super().__init__()
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage())[:MESSAGE_CHARS],
            "worker": self.worker_id,
            "thread": record.threadName,
        }
        for name in EXTRA_FIELDS:
            if name in record.__dict__:
                data[name] = _value(record.__dict__[name])
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))[-EXCEPTION_CHARS:]
        return json.dumps(data, ensure_ascii=False)


# --- the background sender -----------------------------------------------------------------------
class Retry(Exception):
    """Raised by a send function: these items were not delivered; try them again later."""

    def __init__(self, unsent: Sequence[Any], reason: str) -> None:
        super().__init__(reason)
        self.unsent = list(unsent)


class Outbox(Generic[T]):
    """A bounded buffer that one daemon thread hands to ``send`` in batches.

    ``put`` never blocks: when the buffer is full the oldest item goes and ``dropped`` counts
    it. Items are sent ``interval`` seconds after the first one waits (sooner when ``eager``
    are waiting, or on ``flush``). A send that raises ``Retry`` gets its unsent items back at
    the front and is tried again after a growing pause (up to ``MAX_BACKOFF``)."""

    MAX_BACKOFF = 60.0

    def __init__(
        self,
        name: str,
        send: Callable[[list[T]], None],
        *,
        capacity: int,
        interval: float,
        eager: int,
        on_trouble: Callable[[str], None],
    ) -> None:
        self.name, self.send = name, send
        self.capacity, self.interval, self.eager = capacity, interval, eager
        self.on_trouble = on_trouble
        self.dropped = 0
        self._items: deque[T] = deque()
        self._first_at = 0.0  # when the oldest waiting item arrived
        self._retry_at = 0.0  # no attempt before this (backing off)
        self._failures = 0
        self._flushing = 0
        self._sending = False
        self._closed = False
        self._cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, item: T) -> None:
        with self._cond:
            if self._closed:
                self.dropped += 1
                return
            first = not self._items
            if first:
                self._first_at = time.monotonic()
            self._items.append(item)
            self._trim()
            # The first item wakes the thread, asleep without a deadline while nothing waited.
            if first or len(self._items) >= self.eager:
                self._cond.notify_all()

    def drop(self, count: int) -> None:
        """Count items ``send`` gave up on (refused by CloudWatch)."""
        with self._cond:
            self.dropped += count

    def _trim(self) -> None:
        over = len(self._items) - self.capacity
        if over > 0:
            for _ in range(over):
                self._items.popleft()
            self.dropped += over
            self.on_trouble(f"buffer full ({self.capacity}): dropping the oldest entries")

    def _due_in(self) -> float:
        """Seconds until the waiting items should go (0: now)."""
        clock = time.monotonic()
        if clock < self._retry_at:
            return self._retry_at - clock
        if self._flushing or self._closed or len(self._items) >= self.eager:
            return 0.0
        return max(0.0, self._first_at + self.interval - clock)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items or self._due_in() > 0:
                    if self._closed and (not self._items or self._retry_at > time.monotonic()):
                        return  # closed: nothing left, or CloudWatch still unreachable
                    self._cond.wait(self._due_in() if self._items else None)
                batch = list(self._items)
                self._items.clear()
                self._sending = True
            unsent: list[T] = []
            try:
                self.send(batch)
            except Retry as exc:
                unsent = exc.unsent
                self.on_trouble(str(exc))
            except Exception as exc:  # a bug or a refused batch: lose it, keep the thread
                self.drop(len(batch))
                self.on_trouble(f"{type(exc).__name__}: {exc}")
            with self._cond:
                self._sending = False
                if unsent:
                    self._items.extendleft(reversed(unsent))
                    self._first_at = time.monotonic()
                    self._trim()
                    self._failures += 1
                    # The exponent stops growing long after the cap is reached: 2**1024
                    # does not fit a float, and the overflow would end the thread.
                    self._retry_at = time.monotonic() + min(
                        self.interval * 2 ** min(self._failures, 64), self.MAX_BACKOFF
                    )
                else:
                    self._failures, self._retry_at = 0, 0.0
                self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Send what waits now; True when everything went within ``timeout`` seconds."""
        with self._cond:
            if self._closed:  # e.g. logging.shutdown() after close(): it has waited already
                return not self._items and not self._sending
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(
                    lambda: not self._items and not self._sending, timeout=timeout
                )
            finally:
                self._flushing -= 1

    def close(self, timeout: float) -> bool:
        """Flush for at most ``timeout`` seconds, then stop taking items; the thread ends once
        idle (a daemon, it never holds the process open)."""
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        return done


class _Warner:
    """One stderr line the first time something goes wrong (logging it could loop back)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.warned = False

    def __call__(self, reason: str) -> None:
        if not self.warned:
            self.warned = True
            sys.stderr.write(f"transcriber: {self.what}: {redact(reason)}\n")


# --- CloudWatch Logs -----------------------------------------------------------------------------
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # bytes CloudWatch adds to each message when it sizes a batch
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000  # one batch may not span more than 24 hours
# The group is missing or we may not write to it: no later batch would fare better.
_GIVE_UP = {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}

Event = tuple[int, str]  # (milliseconds since the epoch, message)


def batches(events: list[Event]) -> list[list[Event]]:
    """Events in time order, cut into PutLogEvents-sized batches."""
    out: list[list[Event]] = []
    size = 0
    for event in sorted(events, key=lambda e: e[0]):
        cost = len(event[1].encode()) + EVENT_OVERHEAD
        current = out[-1] if out else None
        if (
            current is None
            or len(current) >= MAX_BATCH_EVENTS
            or size + cost > MAX_BATCH_BYTES
            or event[0] - current[0][0] > MAX_BATCH_SPAN_MS
        ):
            out.append([])
            size = 0
        out[-1].append(event)
        size += cost
    return out


class CloudWatchLogsHandler(logging.Handler):
    """Formats records (``JsonFormatter``) and ships them to one log stream, named after the
    worker, in the background. ``emit`` only appends to a bounded buffer."""

    def __init__(
        self,
        logs: Any,
        group: str,
        stream: str,
        *,
        capacity: int = 10_000,
        interval: float = 5.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.logs, self.group = logs, group
        self.stream = re.sub(r"[:*]", "-", stream)[:512] or "worker"
        self.close_timeout = close_timeout
        self.warn = _Warner(f"worker logs not shipped to CloudWatch ({group})")
        self._stream_ready = False
        self._given_up = False
        self.outbox: Outbox[Event] = Outbox(
            "cloudwatch-logs",
            self._send,
            capacity=capacity,
            interval=interval,
            eager=MAX_BATCH_EVENTS // 2,
            on_trouble=self.warn,
        )

    @property
    def dropped(self) -> int:
        return self.outbox.dropped

    def emit(self, record: logging.LogRecord) -> None:
        if threading.current_thread() is self.outbox.thread or self._given_up:
            return  # a record about shipping records would feed itself
        try:
            message = self.format(record)
            if len(message.encode()) > MAX_EVENT_BYTES:
                message = message.encode()[:MAX_EVENT_BYTES].decode(errors="ignore")
            self.outbox.put((int(record.created * 1000), message))
        except Exception:
            self.handleError(record)

    def _create_stream(self) -> None:
        try:
            self.logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except Exception as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":  # a restarted worker
                raise
        self._stream_ready = True

    def _send(self, events: list[Event]) -> None:
        if self._given_up:
            self.outbox.drop(len(events))
            return
        pending = batches(events)
        recreated = False
        while pending:
            batch = pending[0]
            try:
                if not self._stream_ready:
                    self._create_stream()
                reply = self.logs.put_log_events(
                    logGroupName=self.group,
                    logStreamName=self.stream,
                    logEvents=[{"timestamp": t, "message": m} for t, m in batch],
                )
            except Exception as exc:
                code = error_code(exc)
                if code == "ResourceNotFoundException" and self._stream_ready and not recreated:
                    self._stream_ready, recreated = False, True  # the stream was deleted
                    continue
                if is_transient(exc):
                    unsent = [e for b in pending for e in b]
                    raise Retry(unsent, f"{code or type(exc).__name__}: {exc}") from None
                if code in _GIVE_UP:
                    self._given_up = True
                    self.outbox.drop(sum(len(b) for b in pending))
                    self.warn(f"{code}: {exc}; logging to CloudWatch is off for this worker")
                    return
                self.outbox.drop(len(batch))  # this batch was refused; go on
                self.warn(f"{code}: {exc}")
            else:
                rejected = reply.get("rejectedLogEventsInfo") or {}
                if rejected:  # too old (> 14 days) or too far ahead: CloudWatch keeps the rest
                    self.warn(f"CloudWatch rejected some events: {rejected}")
            pending.pop(0)

    def flush(self, timeout: float | None = None) -> None:
        self.outbox.flush(self.close_timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        wait = self.close_timeout if timeout is None else timeout
        if not self.outbox.close(wait):
            self.warn(f"records still unsent after {wait:.1f} s at exit")
        super().close()


# --- CloudWatch metrics --------------------------------------------------------------------------
MAX_METRIC_DATA = 1000  # MetricDatum entries per PutMetricData call
OUTCOME_METRICS = {
    "completed": "Completed",
    "failed": "Failed",  # final: the job will not be tried again
    "retry": "Retried",  # a failed attempt that SQS will deliver again
    "released": "Released",  # handed back on SIGTERM or a Spot notice
    "cancelled": "Cancelled",
    "lost": "Lost",  # another worker took over after our lease lapsed
}
ENDED = ("completed", "failed", "cancelled")


class JobMetrics:
    """Per-job CloudWatch metrics, sent in the background. Every datum is published with
    ``Stack`` alone (stack-wide graphs and alarms) and, when known, ``Stack`` +
    ``InstanceType``: CloudWatch does not roll dimensions up by itself."""

    def __init__(
        self,
        cloudwatch: Any,
        stack: str,
        instance_type: str | None = None,
        *,
        capacity: int = 10_000,
        interval: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.close_timeout = close_timeout
        self.dimension_sets = [[{"Name": "Stack", "Value": stack}]]
        if instance_type:
            self.dimension_sets.append(
                [
                    {"Name": "Stack", "Value": stack},
                    {"Name": "InstanceType", "Value": instance_type},
                ]
            )
        self._troubled = False
        self.outbox: Outbox[dict[str, Any]] = Outbox(
            "cloudwatch-metrics",
            self._send,
            capacity=capacity,
            interval=interval,
            eager=MAX_METRIC_DATA,
            on_trouble=self._trouble,
        )

    def _trouble(self, reason: str) -> None:
        if not self._troubled:  # once per failure streak: no warning storm while unreachable
            self._troubled = True
            log.warning("job metrics not published: %s", reason)

    def data(
        self, *, outcome: str, audio_seconds: float, gpu_seconds: float, attempts: int
    ) -> list[dict[str, Any]]:
        """The ``MetricData`` of one finished job attempt."""
        values: list[tuple[str, float, str]] = [("GpuSeconds", gpu_seconds, "Seconds")]
        if outcome in OUTCOME_METRICS:
            values.append((OUTCOME_METRICS[outcome], 1, "Count"))
        if outcome == "completed":
            values.append(("AudioSeconds", audio_seconds, "Seconds"))
        if outcome in ENDED:  # attempts a job took, once per job
            values.append(("Attempts", attempts, "Count"))
        stamp = dt.datetime.now(dt.UTC)
        return [
            {
                "MetricName": name,
                "Dimensions": dims,
                "Timestamp": stamp,
                "Value": float(value),
                "Unit": unit,
            }
            for name, value, unit in values
            for dims in self.dimension_sets
        ]

    def job_finished(
        self, *, outcome: str, audio_seconds: float, gpu_seconds: float, attempts: int
    ) -> None:
        for datum in self.data(
            outcome=outcome,
            audio_seconds=audio_seconds,
            gpu_seconds=gpu_seconds,
            attempts=attempts,
        ):
            self.outbox.put(datum)

    def _send(self, data: list[dict[str, Any]]) -> None:
        for start in range(0, len(data), MAX_METRIC_DATA):
            chunk = data[start : start + MAX_METRIC_DATA]
            try:
                self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=chunk)
            except Exception as exc:
                if is_transient(exc):
                    detail = error_code(exc) or type(exc).__name__
                    raise Retry(data[start:], f"{detail}: {exc}") from None
                self.outbox.drop(len(chunk))
                self._trouble(f"{error_code(exc)}: {exc}")
            else:
                self._troubled = False

    def flush(self, timeout: float | None = None) -> bool:
        return self.outbox.flush(self.close_timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> bool:
        wait = self.close_timeout if timeout is None else timeout
        done = self.outbox.close(wait)
        if not done:
            self._trouble(f"data still unsent after {wait:.1f} s at exit")
        return done


# --- the one object the worker holds -------------------------------------------------------------
class Telemetry:
    """Logs and metrics of one worker process; every method is safe to call when off."""

    def __init__(
        self,
        handler: CloudWatchLogsHandler | None = None,
        metrics: JobMetrics | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.handler, self.metrics = handler, metrics
        self.logger = logger or logging.getLogger(ROOT_LOGGER)

    @classmethod
    def off(cls) -> Telemetry:
        return cls()

    @classmethod
    def start(
        cls,
        settings: Any,
        *,
        worker_id: str,
        instance_id: str | None = None,
        instance_type: str | None = None,
        interval: float = 5.0,
        close_timeout: float = 5.0,
    ) -> Telemetry:
        """Ship ``transcriber_cli`` log records to ``/transcriber/<stack>/worker`` (stream =
        ``worker_id``) and publish job metrics. Off when ``settings.worker_telemetry`` is
        false, or when no AWS region or credentials are configured (a warning says so)."""
        if not settings.worker_telemetry:
            return cls.off()
        from transcriber_cli.aws.session import client

        try:
            logs = client("logs", settings.region, settings.profile)
            cloudwatch = client("cloudwatch", settings.region, settings.profile)
        except Exception as exc:  # no region or credentials: the worker runs on without it
            log.warning("CloudWatch telemetry off: %s", exc)
            return cls.off()
        handler = CloudWatchLogsHandler(
            logs,
            naming.log_group(settings.stack),
            worker_id,
            interval=interval,
            close_timeout=close_timeout,
        )
        handler.setFormatter(JsonFormatter(worker_id))
        logger = logging.getLogger(ROOT_LOGGER)
        logger.addHandler(handler)
        metrics = JobMetrics(
            cloudwatch,
            settings.stack,
            instance_type,
            interval=interval * 2,
            close_timeout=close_timeout,
        )
        log.info(
            "telemetry on: logs to %s stream %s, metrics in %s (instance %s, %s)",
            handler.group,
            handler.stream,
            NAMESPACE,
            instance_id or "unknown",
            instance_type or "type unknown",
        )
        return cls(handler, metrics, logger)

    @property
    def enabled(self) -> bool:
        return self.handler is not None

    def job_finished(
        self,
        *,
        job_id: str,
        outcome: str,
        audio_seconds: float = 0.0,
        gpu_seconds: float = 0.0,
        attempts: int = 0,
    ) -> None:
        """One structured log line and the job's metrics; never raises."""
        try:
            log.info(
                "job %s %s",
                job_id,
                outcome,
                extra={
                    "job_id": job_id,
                    "outcome": outcome,
                    "audio_seconds": round(audio_seconds, 3),
                    "gpu_seconds": round(gpu_seconds, 3),
                    "attempts": attempts,
                },
            )
            if self.metrics is not None:
                self.metrics.job_finished(
                    outcome=outcome,
                    audio_seconds=audio_seconds,
                    gpu_seconds=gpu_seconds,
                    attempts=attempts,
                )
        except Exception as exc:  # telemetry must never fail a job
            log.warning("telemetry for job %s failed: %s", job_id, exc)

    def flush(self, timeout: float = 5.0) -> None:
        if self.metrics is not None:
            self.metrics.flush(timeout)
        if self.handler is not None:
            self.handler.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Ship what is left (each buffer waits at most ``timeout`` seconds) and detach."""
        deadline = time.monotonic() + timeout
        if self.metrics is not None:  # first: its warnings are log records too
            self.metrics.close(timeout / 2)
        if self.handler is not None:
            self.logger.removeHandler(self.handler)
            self.handler.close(max(0.1, deadline - time.monotonic()))
        self.handler = self.metrics = None

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
