"""Remote-mode fixtures: a moto stack with a fresh database, real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


VISIBILITY_TIMEOUT = 4  # seconds: short, so redelivery after a crash is quick
MAX_RECEIVE_COUNT = 3


def create_stack(visibility_timeout: int = VISIBILITY_TIMEOUT) -> dict[str, str]:
    """Bucket + queue + DLQ in moto, shaped like ``transcriber infra up`` makes them.

    Not made with ``infra up`` itself for two reasons: moto ignores the Conditions of the
    bucket policy infra applies and then denies every object call (see docs/cloud.md), and
    these tests need a visibility timeout of seconds, not the production 15 minutes."""
    import json

    from transcriber_cli.aws.session import client

    s3 = client("s3", "us-east-1")
    sqs = client("sqs", "us-east-1")
    bucket = f"transcriber-test-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # Worker logs go to the stack's log group (the settings' default stack name).
    from transcriber_cli.aws.naming import log_group

    logs = client("logs", "us-east-1")
    group = log_group("transcriber")
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    dlq_url = sqs.create_queue(QueueName=f"{bucket}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{bucket}-jobs",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            ),
        },
    )["QueueUrl"]
    return {"bucket": bucket, "queue_url": queue_url, "dlq_url": dlq_url}


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    aws: str,
    mongo_wire: str,
    tiny_model: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict:
    """A fresh stack (bucket, queues, database) with every setting in the environment, so
    both in-process calls and subprocesses (client, workers) use it. Parametrized
    indirectly, the parameter is the queue's visibility timeout."""
    resources = create_stack(getattr(request, "param", VISIBILITY_TIMEOUT))
    env = {
        "TRANSCRIBER_BUCKET": resources["bucket"],
        "TRANSCRIBER_QUEUE_URL": resources["queue_url"],
        "TRANSCRIBER_MONGODB_URL": mongo_wire,
        "TRANSCRIBER_MONGODB_DATABASE": f"t{uuid.uuid4().hex[:12]}",
        "TRANSCRIBER_MODEL": tiny_model,
        "TRANSCRIBER_DEVICE": "cpu",
        "TRANSCRIBER_DIARIZE": "false",
        "TRANSCRIBER_IMDS_URL": "",
        "TRANSCRIBER_WORKER_WAIT_SECONDS": "1",
        "TRANSCRIBER_WORKER_RETRY_DELAY": "0",
        "TRANSCRIBER_WORKER_HEARTBEAT_SECONDS": "1",
        "TRANSCRIBER_REMOTE_POLL_SECONDS": "0.3",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**resources, "env": env}


class Workers:
    """Real ``transcriber worker`` processes; all are killed at the end of the test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        log = (self.log_dir / f"worker{len(self.procs)}.log").open("w")
        proc = subprocess.Popen(
            [str(BIN / "transcriber"), "worker", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen) -> str:
        return Path(proc.log_path).read_text()  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
