"""Failure and lifecycle paths with real worker processes: no-wait, cancel, duplicates, DLQ,
crash recovery, SIGTERM, Spot notices, Ctrl-C while tailing."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.remote.conftest import BIN, MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT, wait_for
from tests.remote.test_e2e import EXAMPLE, job_store, queue_depth, run, s3_objects

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def long_media(looped_media) -> Path:
    """The conversation four times over (~2.2 min): long enough to interrupt mid-job."""
    return looped_media(4)


def submit(path: Path, *args: str) -> str:
    proc = run(str(path), "--remote", "--no-wait", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["status"] == "queued" and line["outputs"] == []
    return line["job_id"]


def progress_of(store, job_id: str) -> dict:
    return store.get(job_id).public()


def test_no_wait_then_jobs_wait_and_fetch(stack, workers, tmp_path):
    job_id = submit(EXAMPLE)
    store = job_store()
    assert store.get(job_id).public()["status"] == "queued"
    assert queue_depth(stack["queue_url"])["visible"] == 1
    workers.start("--once")
    waited = run("jobs", "wait", job_id, "--json", program="transcriber", timeout=120)
    assert waited.returncode == 0, waited.stderr
    doc = json.loads(waited.stdout)
    assert doc["schema"] == "transcriber.job/1" and doc["status"] == "completed"
    listed = run("jobs", "list", "--status", "completed", "--json", program="transcriber")
    assert [json.loads(x)["job_id"] for x in listed.stdout.splitlines()] == [job_id]
    fetched = run(
        "jobs",
        "fetch",
        job_id,
        "-o",
        str(tmp_path / "out"),
        "-f",
        "txt,srt",
        "--json",
        program="transcriber",
    )
    assert fetched.returncode == 0, fetched.stderr
    result = json.loads(fetched.stdout)
    assert result["status"] == "done" and result["job_id"] == job_id
    assert sorted(Path(o).name for o in result["outputs"]) == [
        "conversation.srt",
        "conversation.txt",
    ]
    assert "weekly planning meeting" in (tmp_path / "out" / "conversation.txt").read_text()
    assert "-->" in (tmp_path / "out" / "conversation.srt").read_text()
    status = run("jobs", "status", job_id, program="transcriber")
    assert 'status: "completed"' in status.stdout
    missing = run("jobs", "status", "nope", program="transcriber")
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no job nope"
    # --no-wait on the same content and options: the finished job is reused and its outputs
    # are written at once, so the line says done (queued is only for work still to do).
    again = run(str(EXAMPLE), "--remote", "--no-wait", "--json", "-o", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    line = json.loads(again.stdout)
    assert (line["status"], line["job_id"], line["reused"]) == ("done", job_id, True)
    assert (tmp_path / "again" / "conversation.txt").read_text() == (
        tmp_path / "out" / "conversation.txt"
    ).read_text()
    store.close()


def test_cancel_stops_a_running_job(stack, workers, long_media):
    job_id = submit(long_media, "--batch-size", "1")
    store = job_store()
    worker = workers.start("--once")
    wait_for(
        lambda: (doc := store.get(job_id)).progress > 0 and doc.stage == "transcribe",
        timeout=60,
        what="transcription progress",
    )
    cancelled = run("jobs", "cancel", job_id, "--json", program="transcriber")
    assert cancelled.returncode == 0, cancelled.stderr
    assert worker.wait(timeout=60) == 0, workers.log(worker)
    doc = store.get(job_id).public()
    assert doc["status"] == "cancelled" and doc["progress"] < 90
    assert "cancelled" in workers.log(worker)
    assert not [k for k in s3_objects(stack["bucket"]) if k.startswith("output/")]
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    again = run("jobs", "cancel", job_id, program="transcriber")
    assert again.returncode == 2 and "nothing to cancel" in again.stderr
    # retry puts it back on the queue with a fresh attempt count
    retried = run("jobs", "retry", job_id, "--json", program="transcriber")
    assert json.loads(retried.stdout)["status"] == "queued"
    assert queue_depth(stack["queue_url"])["visible"] == 1
    store.close()


@pytest.mark.parametrize("queue_url", ["set", "looked up"])
def test_a_retry_whose_message_cannot_be_sent_can_be_retried_again(stack, moto_server, queue_url):
    """``jobs retry`` queued the job, then SQS could not be reached: the job stayed queued
    with no message, so no worker took it, and a second retry refused ("job is queued").
    Without ``TRANSCRIBER_QUEUE_URL`` the queue's lookup is what fails."""
    import boto3

    from tests.faults import TcpProxy

    job_id = submit(EXAMPLE)
    assert run("jobs", "cancel", job_id, program="transcriber").returncode == 0
    # A worker has since acknowledged the cancelled job's message.
    boto3.client("sqs", region_name="us-east-1").purge_queue(QueueUrl=stack["queue_url"])
    with TcpProxy.for_url(moto_server) as aws:
        aws.cut()
        env = {"AWS_ENDPOINT_URL": aws.url(), "TRANSCRIBER_OUTAGE_PATIENCE": "1",
               **({"TRANSCRIBER_QUEUE_URL": None} if queue_url == "looked up" else {})}  # fmt: skip
        failed = run("jobs", "retry", job_id, env=env, program="transcriber")
    assert failed.returncode == 3 and "Traceback" not in failed.stderr, failed.stderr
    (line,) = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]
    assert f"job {job_id} is not queued: 'transcriber jobs retry {job_id}'" in line, line
    store = job_store()
    doc = store.get(job_id)
    assert doc.status.value == "cancelled", doc
    assert doc.message.startswith("not queued: its message could not be sent"), doc.message
    again = run("jobs", "retry", job_id, "--json", program="transcriber")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "queued"
    assert queue_depth(stack["queue_url"])["visible"] == 1
    store.close()


def test_ctrl_c_while_a_submission_waits_for_sqs_leaves_the_job_cancelled(
    stack, moto_server, tmp_path
):
    """Ctrl-C while the client waited out an SQS outage for a job's message left the job
    queued with no message: no worker would ever take it, and it could not be retried."""
    from tests.faults import TcpProxy

    with TcpProxy.for_url(moto_server) as sqs:
        sqs.cut()
        env = {**os.environ, "AWS_ENDPOINT_URL": sqs.url(), "AWS_ENDPOINT_URL_S3": moto_server,
               "TRANSCRIBER_OUTAGE_PATIENCE": "120"}  # fmt: skip
        proc = subprocess.Popen([str(BIN / "transcribe"), str(EXAMPLE), "--remote", "--no-wait",
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)  # fmt: skip
        store = job_store()
        created = wait_for(lambda: store.list_jobs(), timeout=60, what="the job's document")
        time.sleep(1)  # the send is under way, waiting out the outage
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    doc = store.get(created[0].id)
    assert doc.status.value == "cancelled", doc
    assert doc.message == "not queued: its message could not be sent (KeyboardInterrupt)"
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


def test_duplicate_message_completes_once(stack, workers):
    job_id = submit(EXAMPLE)
    from transcriber_cli.aws.sqs import JobQueue
    from transcriber_cli.config import load_settings

    JobQueue.from_settings(load_settings()).send(job_id)  # at-least-once: a second copy
    worker = workers.start("--idle-exit", "3")
    assert worker.wait(timeout=120) == 0, workers.log(worker)
    log = workers.log(worker)
    assert log.count(f"completed job {job_id}") == 1
    assert "duplicate delivery" in log
    store = job_store()
    doc = store.get(job_id).public()
    assert doc["status"] == "completed" and doc["attempts"] == 1
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


def _dlq_bodies(url: str) -> list[dict]:
    from transcriber_cli.aws import session as aws

    sqs = aws.client("sqs", "us-east-1")
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in found]


def test_poison_audio_goes_to_dlq_and_fails(stack, workers):
    job_id = submit(EXAMPLE)
    from transcriber_cli.aws import session as aws

    # Replace the uploaded mp3 with garbage: the worker cannot decode it.
    aws.client("s3", "us-east-1").put_object(
        Bucket=stack["bucket"],
        Key=f"uploads/{job_id}.mp3",
        Body=os.urandom(4096),
        ServerSideEncryption="AES256",
    )
    worker = workers.start("--once")
    assert worker.wait(timeout=60) == 0, workers.log(worker)
    store = job_store()
    doc = store.get(job_id).public()
    assert doc["status"] == "failed"
    assert "cannot decode audio" in doc["error"] or "no audio samples" in doc["error"]
    assert doc["attempts"] == 1  # an undecodable input is not retried
    assert _dlq_bodies(stack["dlq_url"]) == [{"job_id": job_id}]
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


def test_retryable_failure_exhausts_receives_then_dlq(stack, workers):
    job_id = submit(EXAMPLE)
    from transcriber_cli.aws import session as aws

    aws.client("s3", "us-east-1").delete_object(Bucket=stack["bucket"], Key=f"uploads/{job_id}.mp3")
    worker = workers.start("--idle-exit", "3")
    assert worker.wait(timeout=90) == 0, workers.log(worker)
    store = job_store()
    doc = store.get(job_id).public()
    assert doc["status"] == "failed", doc
    assert "not found" in doc["error"] and f"after {MAX_RECEIVE_COUNT} attempt" in doc["error"]
    assert doc["attempts"] == MAX_RECEIVE_COUNT
    # SQS redrives the message on the receive after the last allowed one.
    assert _dlq_bodies(stack["dlq_url"]) == [{"job_id": job_id}]
    store.close()


def test_deliveries_given_back_do_not_use_up_the_attempts(stack, workers):
    """A Spot release gives a job's message back and its attempt with it (the document's
    attempts less one), but SQS counts the receive. After two such deliveries, a first
    failure that may pass was final ("after 3 attempt(s)") for a job on its first attempt."""
    job_id = submit(EXAMPLE)
    from transcriber_cli.aws import session as aws

    sqs = aws.client("sqs", "us-east-1")
    url = stack["queue_url"]
    for _ in range(MAX_RECEIVE_COUNT - 1):  # delivered, then given back as a release does
        (got,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=got["ReceiptHandle"], VisibilityTimeout=0
        )
    aws.client("s3", "us-east-1").delete_object(Bucket=stack["bucket"], Key=f"uploads/{job_id}.mp3")
    worker = workers.start("--once")
    assert worker.wait(timeout=90) == 0, workers.log(worker)
    store = job_store()
    doc = store.get(job_id).public()
    assert doc["status"] == "queued" and doc["attempts"] == 1, doc
    assert doc["message"].startswith("will retry:") and "not found" in doc["message"]
    store.close()


def test_worker_killed_mid_job_is_recovered(stack, workers, long_media):
    job_id = submit(long_media, "--batch-size", "1")
    store = job_store()
    first = workers.start()
    wait_for(lambda: store.get(job_id).public()["progress"] > 5, timeout=90, what="progress")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = time.monotonic()
    second = workers.start("--once", "--idle-exit", "20")
    assert second.wait(timeout=180) == 0, workers.log(second)
    doc = store.get(job_id).public()
    assert doc["status"] == "completed" and doc["attempts"] == 2, workers.log(second)
    first_id = workers.log(first).split("worker ", 1)[1].split()[0]
    second_id = workers.log(second).split("worker ", 1)[1].split()[0]
    assert doc["worker"] == second_id != first_id
    # It was picked up only after the first lease / visibility ran out.
    started = dt.datetime.fromisoformat(doc["started"])
    assert started.timestamp() >= time.time() - (time.monotonic() - killed_at) + (
        VISIBILITY_TIMEOUT - 2
    )
    outputs = [k for k in s3_objects(stack["bucket"]) if k.startswith("output/")]
    assert len(outputs) == len(set(outputs)) == len(doc["outputs"])
    assert sorted(outputs) == sorted(doc["outputs"])
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


def test_sigterm_releases_the_job(stack, workers, long_media):
    job_id = submit(long_media, "--batch-size", "1")
    store = job_store()
    worker = workers.start(env={"TRANSCRIBER_WORKER_SHUTDOWN_GRACE": "0"})
    wait_for(lambda: store.get(job_id).public()["progress"] > 0, timeout=90, what="progress")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, workers.log(worker)
    doc = store.get(job_id).public()
    assert doc["status"] == "queued" and doc["worker"] is None
    assert doc["message"] == "released: worker shutting down"
    assert doc["attempts"] == 0  # a release does not count as a failed attempt
    assert queue_depth(stack["queue_url"])["visible"] == 1  # visible again at once
    assert store.list_workers() == []  # a clean exit removes its heartbeat
    store.close()


class _Imds(http.server.BaseHTTPRequestHandler):
    notice: bytes | None = None

    def do_PUT(self) -> None:  # IMDSv2 session token
        assert self.headers["X-aws-ec2-metadata-token-ttl-seconds"]
        self._send(200, b"token-123")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "token-123":
            return self._send(401, b"")
        path = self.path.removeprefix("/latest/meta-data/")
        if path == "instance-id":
            return self._send(200, b"i-0123456789abcdef0")
        if path == "instance-type":
            return self._send(200, b"g5.xlarge")
        if path == "spot/instance-action" and type(self).notice:
            return self._send(200, type(self).notice)
        self._send(404, b"")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_spot_notice_releases_job_and_heartbeat_names_instance(stack, workers, long_media):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        job_id = submit(long_media, "--batch-size", "1")
        store = job_store()
        worker = workers.start(
            env={"TRANSCRIBER_IMDS_URL": url, "TRANSCRIBER_SPOT_POLL_SECONDS": "0.5"}
        )
        wait_for(lambda: store.get(job_id).public()["progress"] > 0, timeout=90, what="progress")
        beats = store.list_workers()
        assert beats[0].instance_id == "i-0123456789abcdef0"
        assert beats[0].instance_type == "g5.xlarge" and beats[0].jobs == [job_id]
        _Imds.notice = b'{"action": "terminate", "time": "2026-11-22T00:00:00Z"}'
        assert worker.wait(timeout=30) == 0, workers.log(worker)
        doc = store.get(job_id).public()
        assert doc["status"] == "queued" and doc["message"] == "released: spot interruption"
        assert "spot interruption notice" in workers.log(worker)
        store.close()
    finally:
        _Imds.notice = None
        server.shutdown()


@pytest.mark.parametrize(("signum", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_while_tailing_leaves_job_running(stack, tmp_path, signum, code):
    """SIGTERM (a timeout, systemd, docker stop) ended the client with no word: the jobs
    it tailed were not named, nor how to reattach. It now stops as Ctrl-C does."""
    exe = Path(sys.executable).parent / "transcribe"
    proc = subprocess.Popen(
        [str(exe), str(EXAMPLE), "--remote", "-o", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    store = job_store()
    wait_for(lambda: store.list_jobs(), timeout=30, what="a task")
    # The task is written before the message is sent: wait for the message, so the signal
    # comes while the client tails, not between the two (a fixed sleep raced the send).
    wait_for(lambda: queue_depth(stack["queue_url"])["visible"] == 1, timeout=30,
             what="the job's message")  # fmt: skip
    time.sleep(0.3)
    proc.send_signal(getattr(signal, signum))
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    job_id = store.list_jobs()[0].id
    assert f"transcriber jobs wait {job_id}" in err
    assert len(err.strip().splitlines()) == 1
    assert store.get(job_id).public()["status"] == "queued"
    assert queue_depth(stack["queue_url"])["visible"] == 1
    store.close()


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (its SigCgt mask, Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def test_sigterm_while_jobs_wait_stops_waiting_as_ctrl_c_does(stack):
    """``transcriber jobs wait`` died at -15 on SIGTERM, without its line on how to wait
    again."""
    job_id = submit(EXAMPLE)
    proc = subprocess.Popen([str(BIN / "transcriber"), "jobs", "wait", job_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: _catches(proc.pid, signal.SIGTERM) or proc.poll() is not None,
             timeout=30, interval=0.02, what="the handler")  # fmt: skip
    time.sleep(0.3)  # into the wait itself
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    (line,) = err.strip().splitlines()
    assert "stopped waiting" in line and "transcriber jobs wait" in line
    store = job_store()
    assert store.get(job_id).status.value == "queued"
    store.close()


def test_a_missing_model_is_one_line_in_the_job_and_the_heartbeat(stack, workers, tmp_path):
    """A worker whose model is not there (not pushed, no hub): the job says why in one line,
    and the worker's heartbeat says it cannot work, which `fleet status` shows."""
    from tests.conftest import json_lines

    job_id = submit(EXAMPLE, "-m", "auto")  # the worker's own model
    missing = tmp_path / "models" / "whisper" / "large-v3-turbo"
    worker = workers.start(
        "--idle-exit", "5", env={"TRANSCRIBER_MODEL": str(missing), "TRANSCRIBER_OFFLINE": "1"}
    )
    store = job_store()
    beat = wait_for(lambda: [w for w in store.list_workers() if w.problem], timeout=60,
                    what="a heartbeat with the problem")[0]  # fmt: skip
    assert str(missing) in beat.problem and "\n" not in beat.problem
    assert worker.wait(timeout=120) == 0, workers.log(worker)
    doc = store.get(job_id)
    assert doc.status.value == "failed" and str(missing) in (doc.error or "")
    assert "Traceback" not in (doc.error or "")
    listed = json_lines(run("jobs", "list", "--json", program="transcriber").stdout)
    assert listed[0]["error"] == doc.error
    store.close()


def test_another_audio_stream_is_another_job(stack, workers, tmp_path, silent_then_speech):
    """The same file with another --audio-stream is another recording: a finished job of
    one stream is never reused for the other."""
    media = silent_then_speech
    worker = workers.start("--idle-exit", "4")
    first = run(str(media), "--remote", "--json", "--audio-stream", "0", "-o", str(tmp_path / "a"))
    assert json.loads(first.stdout)["status"] == "done", first.stderr
    second = run(str(media), "--remote", "--json", "--audio-stream", "1", "-o", str(tmp_path / "b"))
    line = json.loads(second.stdout)
    assert line["status"] == "done" and line["reused"] is False, line
    assert "budget" in (tmp_path / "b" / "two-streams.txt").read_text().lower()
    assert "budget" not in (tmp_path / "a" / "two-streams.txt").read_text().lower()
    worker.wait(timeout=60)
