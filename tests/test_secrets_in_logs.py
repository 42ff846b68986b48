"""Secrets never reach -v output: a real CLI process reads the MongoDB URL from SSM (moto)
while logging at DEBUG, and neither its stdout nor its stderr holds the password."""

from __future__ import annotations

from tests.conftest import run_cli

PASSWORD = "s3cr3t-Pa55w0rd"
TOKEN = "hf_" + "Q" * 30
SESSION_TOKEN = "FwoGZXIvYXdzEBcaDKsessiontokenvalue1234567890"


def test_verbose_logs_hold_no_secret(aws: str) -> None:
    from transcriber_cli.aws.session import client

    ssm = client("ssm", "us-east-1")
    url = f"mongodb://app:{PASSWORD}@127.0.0.1:1/?serverSelectionTimeoutMS=300"
    ssm.put_parameter(Name="/transcriber/demo/mongodb_url", Value=url, Type="SecureString")
    ssm.put_parameter(Name="/transcriber/demo/hf_token", Value=TOKEN, Type="SecureString")
    client("sqs", "us-east-1").create_queue(QueueName="transcriber-demo-jobs")
    env = {"TRANSCRIBER_OUTAGE_PATIENCE": "0", "AWS_SESSION_TOKEN": SESSION_TOKEN}
    proc = run_cli("worker", "--stack", "demo", "--once", "-v", program="transcriber", env=env,
                   timeout=60)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "MongoDB" in out, out[-2000:]  # it did use the URL
    assert "DEBUG" in out  # -v logs at debug level
    for secret in (PASSWORD, TOKEN, SESSION_TOKEN):
        assert secret not in out
