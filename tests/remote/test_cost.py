"""What a job cost: a real worker on a (fake) g5.xlarge prices its time with EC2's Spot price
history (moto), every attempt counts, and `--max-cost` refuses a job before its upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.conftest import json_lines
from tests.conftest import run_cli as run
from tests.fake_imds import FakeImds
from tests.remote.test_e2e import EXAMPLE, job_store, s3_objects

pytestmark = pytest.mark.slow


def uploads(bucket: str) -> list[str]:
    return [k for k in s3_objects(bucket) if k.startswith("uploads/")]


def test_jobs_are_priced_and_max_cost_refuses_before_upload(stack, workers, tmp_path):
    from transcriber_cli.aws.session import client

    short = tmp_path / "short.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(EXAMPLE), "-t", "12", str(short)],
                   check=True)  # fmt: skip
    # No job priced yet: the deliberately high guess (0.1 GPU s per audio s at the dearest
    # GPU hour of the price table, a p4d.24xlarge's eighth) puts 33 s at about $0.0013.
    refused = run(str(EXAMPLE), "--remote", "--json", "--max-cost", "0.0005", "-o", str(tmp_path))
    assert refused.returncode == 1
    (line,) = json_lines(refused.stdout)
    assert line["status"] == "failed" and "over --max-cost $0.0005" in line["error"]
    assert "no priced job yet" in line["error"]
    assert uploads(stack["bucket"]) == []  # refused before anything was sent

    imds = FakeImds(instance_type="g5.xlarge")
    imds.values["placement/availability-zone"] = "us-east-1a"
    try:
        done = run(str(EXAMPLE), "--remote", "--no-wait", "--json", "--max-cost", "0.01",
                   "-o", str(tmp_path))  # fmt: skip
        (job,) = [x["job_id"] for x in json_lines(done.stdout)]
        queued = run(str(short), "--remote", "--no-wait", "--json", "-o", str(tmp_path))
        (bad,) = [x["job_id"] for x in json_lines(queued.stdout)]
        client("s3", "us-east-1").put_object(  # a job that fails: its attempt costs too
            Bucket=stack["bucket"], Key=f"uploads/{bad}.mp3", Body=os.urandom(4096)
        )
        worker = workers.start("--idle-exit", "4", env={"TRANSCRIBER_IMDS_URL": imds.url})
        assert worker.wait(timeout=120) == 0, workers.log(worker)
    finally:
        imds.close()
    assert "an hour of g5.xlarge costs" in workers.log(worker)

    status = run("jobs", "status", job, "--json", program="transcriber")
    cost = json.loads(status.stdout)["cost"]
    assert cost["instance_type"] == "g5.xlarge"
    assert cost["price_basis"] == "Spot price in us-east-1a"
    assert cost["usd_per_hour"] > 0
    assert 0 < cost["seconds"] <= cost["gpu_seconds"] + 0.01 < 120
    assert cost["audio_seconds"] == pytest.approx(33.2, abs=0.1)
    assert cost["usd"] == pytest.approx(cost["gpu_seconds"] * cost["usd_per_hour"] / 3600, rel=1e-2)
    store = job_store()
    failed = store.get(bad)
    assert failed.status.value == "failed" and failed.cost.gpu_seconds > 0
    store.close()

    # Now the estimate comes from what jobs really cost: the 12 s clip at half its estimate
    # is refused, at twice its estimate accepted.
    per_second = cost["usd"] / cost["audio_seconds"]
    estimate = 12 * per_second
    low = run(str(short), "--remote", "--no-wait", "--json", "--overwrite",
              "--max-cost", repr(estimate / 2))  # fmt: skip
    (line,) = json_lines(low.stdout)
    assert line["status"] == "failed" and "completed in the last 7 days" in line["error"]
    high = run(str(short), "--remote", "--no-wait", "--json", "--overwrite",
               "--max-cost", repr(estimate * 2))  # fmt: skip
    assert high.returncode == 0, high.stderr


def test_jobs_at_once_on_one_gpu_pay_its_time_once_between_them(
    stack, workers, looped_media, tmp_path
):
    """With two jobs at once on one device, each pays the device's time it had: the long
    job alone pays all of it, the stretch they overlapped is split, and together they pay
    what the machine cost while they ran, not half of it (a fixed 1/2 share) nor twice."""
    short = tmp_path / "short.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(EXAMPLE), "-t", "8", str(short)],
                   check=True)  # fmt: skip
    ids = []
    for path in (looped_media(3), short):  # the long one is claimed first
        done = run(str(path), "--remote", "--no-wait", "--json", "-o", str(tmp_path))
        (line,) = json_lines(done.stdout)
        ids.append(line["job_id"])
    imds = FakeImds(instance_type="g5.xlarge")
    imds.values["placement/availability-zone"] = "us-east-1a"
    try:
        worker = workers.start("--concurrency", "2", "--idle-exit", "4",
                               env={"TRANSCRIBER_IMDS_URL": imds.url})  # fmt: skip
        assert worker.wait(timeout=180) == 0, workers.log(worker)
    finally:
        imds.close()
    store = job_store()
    long_job, short_job = (store.get(job_id) for job_id in ids)
    store.close()
    assert long_job.status.value == short_job.status.value == "completed"
    rate = long_job.cost.usd_per_hour
    assert rate and rate == short_job.cost.usd_per_hour  # the whole machine's: one device
    for job in (long_job, short_job):  # what it paid for is the device time it had
        assert job.cost.usd == pytest.approx(job.cost.gpu_seconds * rate / 3600, rel=1e-3)
    # The short job ran beside the long one all its life: it had about half its wall time.
    assert short_job.cost.gpu_seconds == pytest.approx(short_job.cost.seconds / 2, rel=0.35)
    assert "the device shared with other jobs" in short_job.cost.price_basis
    # The long one ran alone before and after: more than half of its time, less than all.
    assert long_job.cost.seconds / 2 < long_job.cost.gpu_seconds < long_job.cost.seconds
    # Together: the span they ran in, once.
    span = (max(j.finished for j in (long_job, short_job))
            - min(j.started for j in (long_job, short_job))).total_seconds()  # fmt: skip
    assert long_job.cost.gpu_seconds + short_job.cost.gpu_seconds == pytest.approx(span, rel=0.1)


def test_a_stop_while_ec2_is_silent_does_not_wait_for_the_price(stack, workers):
    """A worker waits for its machine's price before its first poll (5 s by default), so
    that the first jobs are priced; the EC2 endpoint can be silent (a subnet with endpoints
    for S3 and SQS only). A SIGTERM during that wait used to sit it out; now it ends the
    wait: no job will be taken."""
    import socket
    import time

    from tests.remote.conftest import wait_for

    silent = socket.create_server(("127.0.0.1", 0))  # connects, never answers
    imds = FakeImds(instance_type="g5.xlarge")
    imds.values["placement/availability-zone"] = "us-east-1a"
    try:
        worker = workers.start("--idle-exit", "60", env={
            "TRANSCRIBER_IMDS_URL": imds.url,
            "AWS_ENDPOINT_URL_EC2": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "TRANSCRIBER_WORKER_PRICE_WAIT": "30",
        })  # fmt: skip
        wait_for(lambda: "worker " in workers.log(worker), timeout=60, what="the worker's start")
        worker.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert worker.wait(timeout=30) == 0, workers.log(worker)
        took = time.monotonic() - stopped
    finally:
        imds.close()
        silent.close()
    log = workers.log(worker)
    assert "an hour of g5.xlarge costs" not in log  # EC2 never answered
    # Not the wait's 30 s, nor the 5 s the code before always waited (5.4 s from the signal).
    assert took < 4.5, (took, log)
