"""Worker telemetry against the moto server (CloudWatch Logs and metrics) and the last-hour
figures against the Mongo wire server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import types
import uuid

import pytest

from tests.cloud.helpers import STACK, boto, cli
from tests.conftest import free_port
from transcriber_cli.worker import telemetry as tm
from transcriber_cli.worker.telemetry import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    CloudWatchLogsHandler,
    JsonFormatter,
    Outbox,
    Retry,
    Telemetry,
    batches,
    redact,
)

GROUP = f"/transcriber/{STACK}/worker"
MONGO_URL = "mongodb+srv://worker:s3cr3t-Pa55@cluster0.example.net/transcriber?retryWrites=true"
HF_TOKEN = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SHA = "ab" * 32


def settings(**extra: object) -> types.SimpleNamespace:
    values: dict[str, object] = {"worker_telemetry": True, **extra}
    return types.SimpleNamespace(stack=STACK, region="us-east-1", profile=None, **values)


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The worker command sets transcriber_cli.worker to INFO; under pytest the root is at
    WARNING, so set it here (caplog restores it)."""
    caplog.set_level(logging.INFO, logger="transcriber_cli")


def read_stream(stream: str) -> list[dict]:
    events = boto("logs").get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True
    )["events"]
    return [json.loads(e["message"]) for e in events]


# --- redaction and JSON lines (no AWS) ---------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"cannot connect to {MONGO_URL}", "s3cr3t-Pa55"),
        ("mongodb://admin:p@ss/w0rd@10.0.0.5:27017/db failed", "p@ss/w0rd"),
        (f"token {HF_TOKEN} refused", HF_TOKEN),
        (f"hf_token={HF_TOKEN[:10]}", HF_TOKEN[:10]),
        (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
        (f"credentials {AWS_SECRET} leaked", AWS_SECRET),
        ('{"password": "hunter2"}', "hunter2"),
        ("https://bob:pa55word@proxy.example.com:3128/", "pa55word"),
        ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_redact_keeps_ordinary_text() -> None:
    for text in (
        "job 0123456789abcdef0123456789abcdef completed in 12.5 s",
        f"sha256 {SHA}",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",  # lowercase hex: not a key
        "mongodb://db.example.com:27017/transcriber",  # no credentials
        "max_new_tokens=100 hf_token missing",
        "s3://transcriber-t1-123456789012-us-east-1/uploads/x.mp3",
    ):
        assert redact(text) == text


def test_formatter_writes_whitelisted_fields_and_no_secret() -> None:
    logger = logging.getLogger("transcriber_cli.worker.job")
    record = logger.makeRecord(
        logger.name, logging.ERROR, __file__, 1, "job %s failed: %s", ("j1", MONGO_URL), None,
        extra={"job_id": "j1", "stage": "transcribe", "seconds": 1.5, "attempt": 2,
               "outcome": "failed", "settings": {"mongodb_url": MONGO_URL}, "ratio": float("nan")},
    )  # fmt: skip
    try:
        raise RuntimeError(f"auth failed for {MONGO_URL} with {HF_TOKEN}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter("w-1").format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert set(data) == {
        "time", "level", "logger", "message", "worker", "thread",
        "job_id", "stage", "seconds", "attempt", "outcome", "exception",
    }  # fmt: skip
    assert data["time"].endswith("Z") and dt.datetime.fromisoformat(data["time"][:-1])
    assert (data["level"], data["logger"], data["worker"]) == ("ERROR", logger.name, "w-1")
    assert (data["job_id"], data["stage"], data["seconds"], data["attempt"]) == (
        "j1", "transcribe", 1.5, 2
    )  # fmt: skip
    assert data["message"] == (
        "job j1 failed: mongodb+srv://***@cluster0.example.net/transcriber?retryWrites=true"
    )
    assert "RuntimeError" in data["exception"]
    for secret in ("s3cr3t", HF_TOKEN):
        assert secret not in line


def test_batches_respect_putlogevents_limits() -> None:
    base = 1_700_000_000_000
    events = [(base + i, "x") for i in range(MAX_BATCH_EVENTS + 5)][::-1]  # newest first
    cut = batches(events)
    assert [len(b) for b in cut] == [MAX_BATCH_EVENTS, 5]
    flat = [t for b in cut for t, _ in b]
    assert flat == sorted(flat)  # time order across and within batches
    big = "y" * 200_000
    by_size = batches([(base + i, big) for i in range(12)])
    assert all(sum(len(m) + 26 for _, m in b) <= MAX_BATCH_BYTES for b in by_size)
    assert [len(b) for b in by_size] == [5, 5, 2]
    day = 24 * 3600 * 1000
    assert [len(b) for b in batches([(base, "a"), (base + day + 1, "b")])] == [1, 1]


def test_outbox_retries_unsent_items_in_order_and_drops_oldest_when_full() -> None:
    got: list[int] = []
    calls = 0
    trouble: list[str] = []

    def send(items: list[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Retry(items, "unreachable")
        got.extend(items)

    box: Outbox[int] = Outbox(
        "test", send, capacity=5, interval=0.05, eager=100, on_trouble=trouble.append
    )
    for i in range(3):
        box.put(i)
    assert box.flush(timeout=5)
    assert got == [0, 1, 2] and box.dropped == 0
    box.close(1)
    assert trouble == ["unreachable"]

    stuck = threading.Event()
    full: Outbox[int] = Outbox(
        "test", lambda items: stuck.wait(), capacity=5, interval=60, eager=100,
        on_trouble=trouble.append,
    )  # fmt: skip
    for i in range(12):
        full.put(i)  # never blocks
    assert full.dropped == 7 and list(full._items) == [7, 8, 9, 10, 11]
    stuck.set()
    full.close(1)


def test_outbox_sends_an_interval_after_its_first_item_without_a_flush() -> None:
    """A worker that logs a line and then runs a long job ships it within the interval, not
    at exit: the sender thread, asleep with nothing to send, is woken by the first item (it
    slept until the buffer was half full or flushed, so logs reached CloudWatch at exit)."""
    got: list[int] = []
    sent = threading.Event()

    def send(items: list[int]) -> None:
        got.extend(items)
        sent.set()

    box: Outbox[int] = Outbox(
        "test", send, capacity=10, interval=0.05, eager=100, on_trouble=lambda _: None
    )
    for item in (1, 2):  # the second wakes a thread that has sent before
        time.sleep(0.2)  # the thread waits with nothing to send
        sent.clear()
        box.put(item)
        assert sent.wait(timeout=10), f"item {item} not sent without a flush"
    assert got == [1, 2]
    box.close(1)


def test_outbox_keeps_trying_after_a_thousand_failed_sends() -> None:
    """The pause doubles per failure up to a cap; the doubling itself may not overflow (it
    did at 1,024 failures in a row, about 17 hours at the 60 s cap, and the thread died)."""

    class Quick(Outbox[int]):
        MAX_BACKOFF = 0.0005  # the production cap would make this test take days

    failures = 1100
    got: list[int] = []
    sent = threading.Event()

    def send(items: list[int]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise Retry(items, "unreachable")
        got.extend(items)
        sent.set()

    box = Quick("test", send, capacity=10, interval=0.0001, eager=1, on_trouble=lambda _: None)
    box.put(7)
    assert sent.wait(timeout=30), f"still {failures} failures to go"
    assert got == [7] and box.thread.is_alive()
    box.close(1)


# --- CloudWatch Logs (moto) ----------------------------------------------------------------------
def test_logs_reach_the_stack_log_group_as_json_lines(aws: str, info_logs: None) -> None:
    boto("logs").create_log_group(logGroupName=GROUP)
    worker_id = "i-0abc-123-beef"
    tel = Telemetry.start(settings(), worker_id=worker_id, instance_type="g5.xlarge")
    assert tel.enabled
    job_log = logging.getLogger("transcriber_cli.worker.job")
    job_log.info("processing job %s", "j1", extra={"job_id": "j1", "attempt": 1})
    job_log.info("stage done", extra={"job_id": "j1", "stage": "transcribe", "seconds": 4.25})
    job_log.error("job %s failed: cannot reach %s", "j1", MONGO_URL, extra={"job_id": "j1"})
    logging.getLogger("transcriber_cli.store.mongo").debug("below the level: not shipped")
    tel.job_finished(
        job_id="j1", outcome="completed", audio_seconds=90.0, gpu_seconds=12.5, attempts=1
    )
    start = time.monotonic()
    tel.close(timeout=10)
    assert time.monotonic() - start < 5

    lines = read_stream(worker_id)
    messages = [line["message"] for line in lines]
    assert messages[0].startswith(f"telemetry on: logs to {GROUP} stream {worker_id}")
    assert messages[1:] == [
        "processing job j1",
        "stage done",
        "job j1 failed: cannot reach mongodb+srv://***@cluster0.example.net/transcriber"
        "?retryWrites=true",
        "job j1 completed",
    ]
    assert all(line["worker"] == worker_id for line in lines)
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    stage = lines[2]
    assert (stage["stage"], stage["seconds"], stage["job_id"]) == ("transcribe", 4.25, "j1")
    assert lines[3]["level"] == "ERROR" and lines[3]["logger"] == "transcriber_cli.worker.job"
    assert {k: lines[4][k] for k in ("outcome", "audio_seconds", "gpu_seconds", "attempts")} == {
        "outcome": "completed", "audio_seconds": 90.0, "gpu_seconds": 12.5, "attempts": 1
    }  # fmt: skip
    raw = boto("logs").filter_log_events(logGroupName=GROUP)["events"]
    assert len(raw) == 5 and not any("s3cr3t" in e["message"] for e in raw)
    # The handler is gone from the logger after close: later records stay local.
    assert not any(
        isinstance(h, CloudWatchLogsHandler) for h in logging.getLogger("transcriber_cli").handlers
    )


def test_a_restarted_worker_reuses_its_stream(aws: str) -> None:
    from transcriber_cli.aws.session import client

    boto("logs").create_log_group(logGroupName=GROUP)
    for n in range(2):
        handler = CloudWatchLogsHandler(client("logs"), GROUP, "w:1*", interval=0.05)
        handler.setFormatter(JsonFormatter("w:1*"))
        handler.emit(logging.makeLogRecord({"msg": f"run {n}", "name": "transcriber_cli.x"}))
        handler.close(timeout=5)
        assert handler.dropped == 0
    assert handler.stream == "w-1-"  # ':' and '*' are not allowed in stream names
    assert [line["message"] for line in read_stream("w-1-")] == ["run 0", "run 1"]


def test_a_missing_log_group_turns_logging_off_with_one_warning(
    aws: str, capsys: pytest.CaptureFixture[str], info_logs: None
) -> None:
    tel = Telemetry.start(settings(), worker_id="w-2")
    for i in range(3):
        logging.getLogger("transcriber_cli.worker").info("line %d", i)
        tel.flush(timeout=5)
    tel.close(timeout=5)
    err = capsys.readouterr().err
    assert err.count("transcriber: worker logs not shipped to CloudWatch") == 1
    assert "ResourceNotFoundException" in err


def test_unreachable_cloudwatch_never_blocks_or_raises(
    aws: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], info_logs: None
) -> None:
    from transcriber_cli.aws.session import client, session

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    session.cache_clear()
    tel = Telemetry.start(settings(), worker_id="w-3", interval=0.05)
    start = time.monotonic()
    for i in range(200):
        logging.getLogger("transcriber_cli.worker.job").info("line %d", i, extra={"job_id": "j"})
        tel.job_finished(job_id="j", outcome="failed", gpu_seconds=1.0, attempts=3)
    # Logging only appends to a buffer (a blocking send would take seconds per line); the
    # bound leaves room for a machine busy with other tests.
    assert time.monotonic() - start < 3.0
    start = time.monotonic()
    tel.close(timeout=1.0)
    assert time.monotonic() - start < 2.0
    err = capsys.readouterr().err
    assert err.count("worker logs not shipped to CloudWatch") == 1, err

    # A small buffer fills at once: the oldest go, counted, with one stderr line.
    handler = CloudWatchLogsHandler(client("logs"), GROUP, "w-4", capacity=10, interval=60)
    handler.setFormatter(JsonFormatter("w-4"))
    for i in range(50):
        handler.emit(logging.makeLogRecord({"msg": f"line {i}", "name": "transcriber_cli.x"}))
    assert handler.dropped == 40
    handler.close(timeout=0.5)
    assert capsys.readouterr().err.count("worker logs not shipped to CloudWatch") == 1


def test_opt_out_setting_ships_nothing(aws: str) -> None:
    tel = Telemetry.start(settings(worker_telemetry=False), worker_id="w-5")
    assert not tel.enabled
    tel.job_finished(job_id="j", outcome="completed", audio_seconds=1, gpu_seconds=1, attempts=1)
    tel.close()
    assert boto("cloudwatch").list_metrics(Namespace="Transcriber")["Metrics"] == []


# --- metrics (moto) ------------------------------------------------------------------------------
def test_job_metrics_with_stack_and_instance_type_dimensions(aws: str) -> None:
    boto("logs").create_log_group(logGroupName=GROUP)
    tel = Telemetry.start(settings(), worker_id="w-6", instance_type="g5.xlarge")
    tel.job_finished(
        job_id="j1", outcome="completed", audio_seconds=600.0, gpu_seconds=40.0, attempts=1
    )
    tel.job_finished(
        job_id="j2", outcome="completed", audio_seconds=300.0, gpu_seconds=20.0, attempts=2
    )
    tel.job_finished(job_id="j3", outcome="released", audio_seconds=50.0, gpu_seconds=5.0)
    tel.job_finished(job_id="j4", outcome="failed", gpu_seconds=1.0, attempts=3)
    tel.close(timeout=10)

    cw = boto("cloudwatch")
    stack_dim = [{"Name": "Stack", "Value": STACK}]
    both = [*stack_dim, {"Name": "InstanceType", "Value": "g5.xlarge"}]
    metrics = cw.list_metrics(Namespace="Transcriber")["Metrics"]
    found = {(m["MetricName"], tuple(d["Name"] for d in m["Dimensions"])) for m in metrics}
    names = {"AudioSeconds", "GpuSeconds", "Attempts", "Completed", "Failed", "Released"}
    assert found == {(n, dims) for n in names for dims in (("Stack",), ("Stack", "InstanceType"))}

    def stat(name: str, dims: list[dict], statistic: str = "Sum") -> tuple[float, str]:
        now = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(
            Namespace="Transcriber", MetricName=name, Dimensions=dims,
            StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
            Period=3600, Statistics=[statistic],
        )["Datapoints"]  # fmt: skip
        assert len(points) == 1, (name, points)
        return points[0][statistic], points[0]["Unit"]

    assert stat("AudioSeconds", both) == (900.0, "Seconds")  # completed jobs only
    assert stat("GpuSeconds", both) == (66.0, "Seconds")  # every attempt costs
    assert stat("Completed", both) == (2.0, "Count")
    assert stat("Released", both) == (1.0, "Count")
    assert stat("Failed", both) == (1.0, "Count")
    assert stat("Attempts", both, "Maximum") == (3.0, "Count")  # ended jobs only
    assert stat("Attempts", both, "Minimum") == (1.0, "Count")  # j3 (released) sent none
    # moto matches the asked dimensions as a subset (CloudWatch matches them exactly), so
    # Stack alone sums both datum sets: the Stack-only data equal the per-type data.
    for name in ("AudioSeconds", "GpuSeconds", "Completed", "Released", "Failed"):
        assert stat(name, stack_dim)[0] == 2 * stat(name, both)[0]


def test_the_iam_grant_names_the_namespace_the_worker_uses() -> None:
    from transcriber_cli.cloud import iam

    assert iam.METRICS_NAMESPACE == tm.NAMESPACE


# --- last-hour figures (Mongo wire server) -------------------------------------------------------
@pytest.fixture
def store(mongo_wire: str):
    from transcriber_cli.config import load_settings
    from transcriber_cli.store.mongo import JobStore

    database = f"tel{uuid.uuid4().hex[:10]}"
    s = JobStore.from_settings(load_settings(mongodb_url=mongo_wire, mongodb_database=database))
    s.ensure_indexes()
    yield s
    s.close()


def add_job(store, status: str, *, ago_min: float | None, duration: float = 60.0,
            error: str | None = None, gpu: float = 0.0) -> None:  # fmt: skip
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.store.documents import Audio, Cost, JobDocument, JobStatus, Source
    from transcriber_cli.store.mongo import now

    stamp = now()
    finished = None if ago_min is None else stamp - dt.timedelta(minutes=ago_min)
    store.create(
        JobDocument(
            _id=uuid.uuid4().hex,
            status=JobStatus(status),
            options=JobOptions(model="tiny.en"),
            options_key="k",
            source=Source(name="a.mp3", sha256=SHA, duration=duration),
            audio=Audio(sha256=SHA, bytes=10),
            error=error,
            cost=Cost(gpu_seconds=gpu, usd=gpu * 0.36 / 3600, usd_per_hour=0.36 if gpu else None),
            created=stamp - dt.timedelta(hours=3),
            updated=stamp,
            finished=finished,
        )
    )


def seed(store) -> None:
    add_job(store, "completed", ago_min=5, duration=1800.0, gpu=3600.0)
    add_job(store, "completed", ago_min=50, duration=606.0, gpu=1800.0)
    add_job(store, "completed", ago_min=120, duration=9999.0, gpu=3600.0)  # not the last hour
    add_job(store, "completed", ago_min=25 * 60, duration=99.0, gpu=9999.0)  # not the last day
    add_job(store, "failed", ago_min=10, error="CUDA out of memory (after 3 attempt(s))")
    add_job(store, "failed", ago_min=20, error="CUDA out of memory (after 1 attempt(s))")
    add_job(store, "failed", ago_min=30, error="bad audio")
    add_job(store, "failed", ago_min=90, error="old failure")
    add_job(store, "cancelled", ago_min=1)
    add_job(store, "processing", ago_min=None)
    add_job(store, "queued", ago_min=None)


def test_last_hour_counts_on_a_real_database(store) -> None:
    from transcriber_cli.store.mongo import now
    from transcriber_cli.store.stats import recent

    seed(store)
    until = now()
    got = recent(store, until=until)
    assert (got.completed, got.failed, got.cancelled) == (2, 3, 1)
    assert got.audio_seconds == 2406.0 and got.jobs_per_hour == 2.0
    assert got.top_errors == [("CUDA out of memory", 2), ("bad audio", 1)]
    assert recent(store.jobs, until=until) == got  # the bare collection works too
    data = got.as_dict()
    assert data["top_errors"][0] == {"error": "CUDA out of memory", "count": 2}
    json.dumps(data)  # --json ready
    wide = recent(store, window=dt.timedelta(hours=3))
    assert (wide.completed, wide.failed, wide.jobs_per_hour) == (3, 4, 1.0)


def test_last_hour_in_fleet_status_and_jobs_list(aws: str, store, mongo_wire: str) -> None:
    seed(store)
    env = {
        "TRANSCRIBER_MONGODB_URL": mongo_wire,
        "TRANSCRIBER_MONGODB_DATABASE": store.db.name,
    }
    proc = cli("fleet", "status", "--stack", STACK, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout)["last_hour"]
    assert (last["completed"], last["failed"], last["cancelled"]) == (2, 3, 1)
    assert last["audio_seconds"] == 2406.0
    text = cli("fleet", "status", "--stack", STACK, env=env).stdout
    assert "last hour: 2 done (40.1 min of audio), 3 failed, 1 cancelled" in text
    assert "2× CUDA out of memory" in text
    # What the jobs cost: every attempt's GPU time at its machine's rate, over a day.
    day = json.loads(proc.stdout)["last_day"]
    assert (day["completed"], day["gpu_seconds"], day["usd"]) == (3, 9000.0, 0.9)
    assert "last 24 h: $0.90 on 8 job(s) (2.5 GPU h; 3 done, 4 failed)" in text

    listed = cli("jobs", "list", "--stack", STACK, env=env)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 11 and "last hour" not in listed.stdout
    assert listed.stdout.count("$0.3600") == 2  # each job's cost, "-" where not priced
    assert "last hour: 2 done (40.1 min of audio), 3 failed, 1 cancelled" in listed.stderr
    as_json = cli("jobs", "list", "--stack", STACK, "--json", env=env)
    assert [json.loads(line)["schema"] for line in as_json.stdout.splitlines()] == [
        "transcriber.job/1"
    ] * 11
    assert "last hour" not in as_json.stderr
