"""Chaos: real worker and client processes under faults. A TCP proxy (``tests/faults.py``)
stands between them and moto / the Mongo wire server and cuts the link on demand; workers are
killed with real signals; Spot notices come from a fake IMDSv2 server.

Every case ends the same way: each job completed (or failed with a reason for bad input),
exactly one result set per job, nothing left in the queue or in flight.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import convert, json_lines
from tests.fake_imds import FakeImds
from tests.faults import TcpProxy
from tests.remote.conftest import wait_for
from tests.remote.test_e2e import EXAMPLE, FORMATS, job_store, queue_depth, run, s3_objects

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture
def proxied(stack, moto_server, mongo_wire):
    """Proxies to moto and to MongoDB, and the environment that routes processes through
    them (the test itself keeps talking to the servers directly)."""
    aws = TcpProxy.for_url(moto_server)
    mongo = TcpProxy.for_url(mongo_wire)
    env = {
        "AWS_ENDPOINT_URL": aws.url(),
        "TRANSCRIBER_MONGODB_URL": mongo.rewrite(mongo_wire),
        "TRANSCRIBER_OUTAGE_PATIENCE": "120",
    }
    yield {"aws": aws, "mongo": mongo, "env": env}
    aws.close()
    mongo.close()


def settled(stack: dict, store, job_ids: list[str]) -> dict[str, dict]:
    """Wait until every job ended and the queue is empty; check one result set per job."""
    wait_for(
        lambda: all(store.get(j).status.ended for j in job_ids), timeout=240, what="jobs to end"
    )
    wait_for(
        lambda: queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0},
        timeout=60,
        what="an empty queue",
    )
    docs = {j: store.get(j).public() for j in job_ids}
    keys = [k for k in s3_objects(stack["bucket"]) if k.startswith("output/")]
    for job_id, doc in docs.items():
        mine = sorted(k for k in keys if k.startswith(f"output/{job_id}/"))
        if doc["status"] == "completed":
            assert mine == sorted(doc["outputs"]) and len(mine) >= len(FORMATS)
        else:
            assert mine == []
    return docs


def submit(path: Path, *args: str, env: dict | None = None) -> list[str]:
    proc = run(str(path), "--remote", "--no-wait", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return [line["job_id"] for line in json_lines(proc.stdout)]


def tail(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "transcribe"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def worker_id(workers, proc) -> str:
    def found() -> str | None:
        log = workers.log(proc)
        return log.split("worker ", 1)[1].split()[0] if "worker " in log else None

    return wait_for(found, timeout=60, what="the worker id")


def test_mongo_outages_mid_job_worker_restart_and_tailing_client(
    stack, proxied, workers, looped_media, tmp_path
):
    """MongoDB away for 3 s, then for 31 s or more (past the 30 s after which a silent
    worker's heartbeat counts as stale, and until both workers are seen waiting), while
    `worker --concurrency 2`
    runs two jobs and a client tails them with --json; a worker (re)started during the outage
    waits for it."""
    env = proxied["env"]
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    shutil.copy(looped_media(2), a)
    shutil.copy(looped_media(3), b)
    worker = workers.start("--concurrency", "2", env=env)
    client = tail(str(a), str(b), "--remote", "--json", "-o", str(tmp_path / "out"), env=env)
    store = job_store()
    wait_for(lambda: len(store.list_jobs()) == 2, timeout=60, what="two jobs")
    ids = [d.id for d in store.list_jobs()]
    wait_for(lambda: all(store.get(j).progress > 0 for j in ids), timeout=120, what="progress")
    proxied["mongo"].cut_for(3)
    time.sleep(6)
    proxied["mongo"].cut()
    cut_at, failed_before = time.monotonic(), workers.log(worker).count("cannot reach MongoDB")
    restarted = workers.start(env=env)  # a supervisor restart in the middle of the outage

    def both_wait() -> bool:
        return (
            "waiting for MongoDB" in workers.log(restarted)  # its start-up waits
            and workers.log(worker).count("cannot reach MongoDB") > failed_before  # no beats
        )

    wait_for(both_wait, timeout=90, what="both workers to wait for MongoDB")
    # Past stale_after (30 s): the jobs must still not be redone (attempts == 1 below).
    time.sleep(max(0.0, cut_at + 31 - time.monotonic()))
    assert worker.poll() is None and restarted.poll() is None  # both waited
    proxied["mongo"].restore()
    out, err = client.communicate(timeout=240)
    assert client.returncode == 0, err
    lines = json_lines(out)
    assert sorted(line["status"] for line in lines) == ["done", "done"], lines
    assert {line["job_id"] for line in lines} == set(ids)
    docs = settled(stack, store, ids)
    assert all(d["status"] == "completed" and d["attempts"] == 1 for d in docs.values())
    log = workers.log(worker)
    # It said what it waited for (the heartbeat every beat; a patient call also says when
    # MongoDB is back, but whether one falls inside the cut depends on timing).
    assert "cannot reach MongoDB" in log
    assert "waiting for MongoDB" in workers.log(restarted)  # its start-up waited
    assert "Traceback" not in log + workers.log(restarted)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{n}.{e}" for n in ("a", "b") for e in FORMATS
    )
    store.close()


def test_aws_outages_idle_mid_job_and_at_upload(stack, proxied, workers, looped_media, tmp_path):
    """S3 and SQS away while `worker --concurrency 2` idles (until its consumers are seen
    waiting, 10 s at least), then from early in a job until its last checkpoint and uploads
    are seen waiting for S3 (10 s at least: visibility extensions fail, the job goes on),
    with a client tailing the job through all of it. No job is redone. Each outage lasts
    until the worker is seen waiting: fixed ones missed the job's S3 calls on a loaded
    machine (the job ended before, or its uploads came after)."""
    env = proxied["env"]
    worker = workers.start("--concurrency", "2", env=env)
    worker_id(workers, worker)

    def outage_until(seen: str, at_least: float) -> None:
        before = workers.log(worker).count(seen)
        cut_at = time.monotonic()
        proxied["aws"].cut()
        wait_for(lambda: workers.log(worker).count(seen) > before, timeout=90, what=seen)
        time.sleep(max(0.0, cut_at + at_least - time.monotonic()))
        proxied["aws"].restore()

    outage_until("waiting for the queue", 10)  # idle: consumers must survive failed polls
    time.sleep(2)
    assert worker.poll() is None, workers.log(worker)
    store = job_store()
    media = tmp_path / "talk.mp4"
    shutil.copy(looped_media(6), media)  # 198 s: the job outlasts the test's polling
    client = tail(str(media), "--remote", "--json", "--batch-size", "1", "-o",
                  str(tmp_path / "out"), env=env)  # fmt: skip
    wait_for(lambda: store.list_jobs(), timeout=60, what="the job")
    job_id = store.list_jobs()[0].id
    wait_for(lambda: store.get(job_id).progress > 10, timeout=120, what="progress")
    assert store.get(job_id).progress < 100  # the outage starts mid-job
    outage_until("waiting for S3", 10)  # the last checkpoint and the uploads wait, not fail
    out, err = client.communicate(timeout=240)
    assert client.returncode == 0, err
    (line,) = json_lines(out)
    assert line["status"] == "done" and line["job_id"] == job_id
    docs = settled(stack, store, [job_id])
    assert docs[job_id]["status"] == "completed" and docs[job_id]["attempts"] == 1
    assert docs[job_id]["checkpoint"]["decoded_seconds"] == pytest.approx(
        docs[job_id]["result"]["duration"], abs=0.01
    )  # nothing decoded twice
    log = workers.log(worker)
    assert "Traceback" not in log
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [f"talk.{e}" for e in sorted(FORMATS)]
    store.close()


def test_a_partitioned_worker_loses_its_job_to_another(stack, proxied, workers, looped_media):
    """A worker cut off from MongoDB, S3 and SQS for longer than its lease: another worker
    takes the job over and completes it; the first, back online, learns the job is no longer
    its own and writes nothing over the new holder's results."""
    (job_id,) = submit(looped_media(3), "--batch-size", "1")
    store = job_store()
    first = workers.start(env=proxied["env"])
    first_id = worker_id(workers, first)
    wait_for(lambda: store.get(job_id).progress > 5, timeout=120, what="progress")
    proxied["aws"].cut()
    proxied["mongo"].cut()
    second = workers.start("--once", "--idle-exit", "60")
    second_id = worker_id(workers, second)
    wait_for(lambda: store.get(job_id).worker == second_id, timeout=60, what="the takeover")
    proxied["aws"].restore()
    proxied["mongo"].restore()
    assert second.wait(timeout=240) == 0, workers.log(second)
    doc = settled(stack, store, [job_id])[job_id]
    assert doc["status"] == "completed" and doc["worker"] == second_id
    assert doc["workers"] == [first_id, second_id] and doc["attempts"] == 2
    wait_for(lambda: "is no longer ours" in workers.log(first), timeout=120, what="the loss")
    assert first.poll() is None  # it carries on with other work
    assert f"completed job {job_id}" not in workers.log(first)
    store.close()


def test_duplicate_copies_while_a_worker_holds_the_job(stack, workers, looped_media):
    """Three extra copies of a running job's message and four workers racing for them: the
    holder finishes it once, the copies are acknowledged, nothing reaches the DLQ."""
    from transcriber_cli.aws.sqs import JobQueue
    from transcriber_cli.config import load_settings

    (job_id,) = submit(looped_media(2))
    store = job_store()
    holder = workers.start()
    wait_for(lambda: store.get(job_id).status.value == "processing", timeout=60, what="claim")
    queue = JobQueue.from_settings(load_settings())
    for _ in range(3):
        queue.send(job_id)
    racers = [workers.start("--idle-exit", "8") for _ in range(3)]
    for racer in racers:
        assert racer.wait(timeout=120) == 0, workers.log(racer)
    docs = settled(stack, store, [job_id])
    assert docs[job_id]["status"] == "completed" and docs[job_id]["attempts"] == 1
    assert len(docs[job_id]["workers"]) == 1
    logs = [workers.log(p) for p in (holder, *racers)]
    assert sum(f"completed job {job_id}" in log for log in logs) == 1
    assert sum(log.count("acknowledging a duplicate") for log in logs[1:]) >= 3
    dlq = queue.sqs.receive_message(QueueUrl=stack["dlq_url"], WaitTimeSeconds=0)
    assert dlq.get("Messages", []) == []
    store.close()


@pytest.mark.parametrize("stack", [120], indirect=True)  # the lease beats every 40 s
def test_a_copy_of_a_running_job_never_reaches_its_workers_other_consumer(
    stack, workers, looped_media
):
    """The consumers of one worker (``--concurrency 2``) claim under its one worker id. With
    the running job's lease lapsed (MongoDB away longer than the lease does that; here it is
    set in the past) and a copy of its message delivered, the idle consumer took the job over
    from its own worker and ran it a second time beside the first; neither saw it was not its
    own. Now the copy is acknowledged and the job runs once."""
    import datetime as dt

    from transcriber_cli.aws.sqs import JobQueue
    from transcriber_cli.config import load_settings

    (job_id,) = submit(looped_media(3), "--batch-size", "1")
    store = job_store()
    worker = workers.start("--concurrency", "2", "--idle-exit", "6")
    wait_for(lambda: store.get(job_id).progress > 5, timeout=120, what="progress")
    lapsed = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    store.jobs.update_one({"_id": job_id}, {"$set": {"lease_until": lapsed}})
    JobQueue.from_settings(load_settings()).send(job_id)
    assert worker.wait(timeout=240) == 0, workers.log(worker)
    log = workers.log(worker)
    doc = settled(stack, store, [job_id])[job_id]
    assert doc["status"] == "completed" and doc["attempts"] == 1, log
    assert log.count(f"processing job {job_id}") == 1, log
    assert f"job {job_id} runs here: acknowledging a duplicate delivery" in log
    store.close()


def test_idle_exit_waits_for_a_claim_held_up_by_a_mongo_outage(stack, proxied, workers):
    """``--concurrency 2 --idle-exit``: one consumer receives a job while MongoDB is away and
    its claim waits; the other's empty polls counted the worker idle (no job was active
    yet) and stopped it, so the job, claimed when MongoDB came back, was released at once
    ("worker shutting down"). A consumer with a delivery in hand now keeps the worker up."""
    store = job_store()
    worker = workers.start("--concurrency", "2", "--idle-exit", "12", env=proxied["env"])
    worker_id(workers, worker)
    wait_for(lambda: store.list_workers(), timeout=60, what="a heartbeat")
    proxied["mongo"].cut()
    (job_id,) = submit(EXAMPLE)  # the client reaches MongoDB directly
    time.sleep(16)  # the claim waits; the other consumer polls empty for longer than 12 s
    proxied["mongo"].restore()
    assert worker.wait(timeout=180) == 0, workers.log(worker)
    log = workers.log(worker)
    doc = settled(stack, store, [job_id])[job_id]
    assert doc["status"] == "completed" and doc["attempts"] == 1, log
    assert "released" not in log, log
    # Its message stayed hidden while the claim waited (not redelivered, not dead-lettered).
    assert "hidden again" not in log and "ReceiptHandleIsInvalid" not in log, log
    assert "deleting the message failed" not in log and "held" not in log, log
    sqs = boto3_sqs()
    assert (
        sqs.receive_message(QueueUrl=stack["dlq_url"], WaitTimeSeconds=0).get("Messages", []) == []
    )
    store.close()


def boto3_sqs():
    from transcriber_cli.aws import session as aws

    return aws.client("sqs", "us-east-1")


def test_many_copies_race_for_one_job(stack, workers):
    """Four copies delivered at once to four workers: one claim wins."""
    from transcriber_cli.aws.sqs import JobQueue
    from transcriber_cli.config import load_settings

    (job_id,) = submit(EXAMPLE)
    queue = JobQueue.from_settings(load_settings())
    for _ in range(3):
        queue.send(job_id)
    racers = [workers.start("--idle-exit", "6") for _ in range(4)]
    for racer in racers:
        assert racer.wait(timeout=120) == 0, workers.log(racer)
    store = job_store()
    docs = settled(stack, store, [job_id])
    assert docs[job_id]["attempts"] == 1 and len(docs[job_id]["workers"]) == 1
    assert sum(workers.log(p).count(f"processing job {job_id}") for p in racers) == 1
    store.close()


def test_sigterm_inside_the_grace_keeps_the_result(stack, workers, looped_media):
    """SIGTERM mid-job with the end well inside the grace: the worker finishes, uploads and
    completes the job (it used to release it after the upload, and the job ran again)."""
    (job_id,) = submit(looped_media(2), "--batch-size", "1")  # progress streams in
    store = job_store()
    worker = workers.start(env={"TRANSCRIBER_WORKER_SHUTDOWN_GRACE": "600"})
    wait_for(lambda: 5 < store.get(job_id).progress < 60, timeout=90, interval=0.1,
             what="a job under way")  # fmt: skip
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0, workers.log(worker)
    docs = settled(stack, store, [job_id])
    assert docs[job_id]["status"] == "completed" and docs[job_id]["attempts"] == 1
    store.close()


def test_spot_notice_resumes_on_another_worker_with_the_same_words(
    stack, workers, looped_media, tmp_path
):
    # Already in the upload form (16 kHz mono mp3, sent as it is): the worker decodes exactly
    # what the local reference run decodes.
    media = convert(looped_media(4), tmp_path / "long.mp3", "-ac", "1", "-ar", "16000")
    env = {"TRANSCRIBER_WINDOW_SECONDS": "30"}
    # Batched decoding (the default): greedy at temperature 0, so two runs can be compared
    # word for word. Sequential decoding falls back to sampling on hard stretches, which
    # no rerun reproduces, resumed or not.
    reference = run(str(media), "-f", "json", "-o", str(tmp_path / "local"), env=env)
    assert reference.returncode == 0, reference.stderr
    (job_id,) = submit(media)
    store = job_store()
    with FakeImds() as imds:
        first = workers.start(env={**env, "TRANSCRIBER_IMDS_URL": imds.url,
                                   "TRANSCRIBER_SPOT_POLL_SECONDS": "0.3"})  # fmt: skip
        wait_for(lambda: store.get(job_id).checkpoint.windows >= 2, timeout=180, what="2 windows")
        imds.notice()
        assert first.wait(timeout=60) == 0, workers.log(first)
    released = store.get(job_id)
    assert released.status.value == "queued" and released.checkpoint.windows >= 2
    # The length in the document is the client's probe (0 for a browser's webm without one):
    # the checkpoint is checked against the audio decoded (it was against this, and the
    # second worker started over).
    store.jobs.update_one({"_id": job_id}, {"$set": {"source.duration": 0.0}})
    second = workers.start("--once", env=env)
    assert second.wait(timeout=240) == 0, workers.log(second)
    docs = settled(stack, store, [job_id])
    doc = docs[job_id]
    assert doc["status"] == "completed" and len(doc["workers"]) == 2
    # The second worker decoded only what the first had not checkpointed.
    decoded = doc["checkpoint"]["decoded_seconds"]
    assert decoded == pytest.approx(doc["result"]["duration"], abs=0.01)
    assert f"{released.checkpoint.seconds:.0f} s done before" in workers.log(second)
    fetched = tmp_path / "remote"
    got = run("jobs", "fetch", job_id, "-f", "json", "-o", str(fetched), program="transcriber")
    assert got.returncode == 0, got.stderr

    def words(path: Path) -> list[tuple[str, float]]:
        data = json.loads(path.read_text())
        return [(w["text"].strip(), w["start"]) for s in data["segments"] for w in s["words"]]

    local = words(tmp_path / "local" / f"{media.stem}.json")
    remote = words(fetched / f"{media.stem}.json")
    assert [w for w, _ in remote] == [w for w, _ in local]
    assert max(abs(a - b) for (_, a), (_, b) in zip(remote, local, strict=True)) <= 0.5
    store.close()


def _under_way(workers, imds: FakeImds, store, job_id: str) -> subprocess.Popen:
    """A worker watching ``imds`` every 0.3 s, once ``job_id`` has made progress."""
    worker = workers.start(env={"TRANSCRIBER_IMDS_URL": imds.url,
                                "TRANSCRIBER_SPOT_POLL_SECONDS": "0.3"})  # fmt: skip
    wait_for(lambda: store.get(job_id).progress > 5, timeout=120, what="progress")
    return worker


def test_a_spot_notice_after_a_failed_token_renewal_still_releases_the_job(
    stack, workers, looped_media
):
    """An IMDS token lasts 6 hours, so a long-lived worker renews it. A renewal answered
    once with a 503 ended the Spot watcher for good: the notice was never seen, and the job
    was killed with the instance instead of released."""
    (job_id,) = submit(looped_media(6), "--batch-size", "1")  # 198 s: outlasts the renewal
    store = job_store()
    with FakeImds() as imds:
        worker = _under_way(workers, imds, store, job_id)
        imds.expire_token(refusals=1)
        wait_for(lambda: ("PUT", "/latest/api/token", 503) in imds.requests, timeout=30,
                 what="a refused renewal")  # fmt: skip
        imds.notice()
        assert worker.wait(timeout=60) == 0, workers.log(worker)
    doc = store.get(job_id)
    assert doc.status.value == "queued" and doc.message == "released: spot interruption", doc
    assert "instance metadata token not renewed (HTTP 503)" in workers.log(worker)
    store.close()


def test_rebalance_recommendation_drains_the_worker(stack, workers, looped_media):
    """A rebalance recommendation: the running job goes on to the end, no new job is taken,
    and the heartbeat says the worker is draining."""
    (first_job,) = submit(looped_media(2), "--batch-size", "1")
    store = job_store()
    with FakeImds() as imds:
        worker = _under_way(workers, imds, store, first_job)
        imds.rebalance()
        wait_for(lambda: store.list_workers() and store.list_workers()[0].draining, timeout=30,
                 what="a draining heartbeat")  # fmt: skip
        (second_job,) = submit(EXAMPLE)
        wait_for(lambda: store.get(first_job).status.ended, timeout=180, what="the first job")
        time.sleep(3)  # several polls' worth: the second job must stay untouched
        assert store.get(first_job).status.value == "completed"
        assert store.get(second_job).status.value == "queued"
        assert store.get(second_job).attempts == 0
        assert worker.poll() is None and "rebalance recommendation" in workers.log(worker)
    taker = workers.start("--once")
    assert taker.wait(timeout=120) == 0, workers.log(taker)
    settled(stack, store, [first_job, second_job])
    status = run("jobs", "status", first_job, program="transcriber")
    assert status.returncode == 0, status.stderr
    assert "resume: " in status.stdout and "1 window(s)" in status.stdout
    store.close()


def test_cost_bound_a_kill_in_the_fifth_window_redoes_only_that_window(
    stack, workers, looped_media
):
    """A 6-minute job in 1-minute windows, killed during its fifth window: the next worker
    decodes only from the fourth cut on."""
    media = looped_media(11)  # 11 x 33.2 s = 6.1 min
    env = {"TRANSCRIBER_WINDOW_SECONDS": "60"}
    (job_id,) = submit(media)
    store = job_store()
    first = workers.start(env=env)
    saved = wait_for(
        lambda: (c := store.get(job_id).checkpoint).windows >= 4 and c,
        timeout=240,
        interval=0.05,
        what="four windows",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert saved.windows == 4  # killed during the fifth
    second = workers.start("--once", "--idle-exit", "30", env=env)
    assert second.wait(timeout=240) == 0, workers.log(second)
    doc = settled(stack, store, [job_id])[job_id]
    duration = doc["result"]["duration"]  # of the decoded audio
    assert doc["status"] == "completed" and doc["attempts"] == 2
    # Decoded and kept over both attempts: every second once. The second attempt decoded
    # duration - saved.seconds; the first lost at most its unfinished fifth window.
    assert doc["checkpoint"]["decoded_seconds"] == pytest.approx(duration, abs=0.01)
    second_log = workers.log(second)
    assert f"{saved.seconds:.0f} s done before" in second_log
    assert "checkpoint after window 5 " in second_log and "after window 4 " not in second_log
    assert 4 * 45 <= saved.seconds <= 4 * 60  # cuts fall in the last 15 s of each minute
    store.close()


def test_random_kills_of_busy_workers(stack, workers, tmp_path):
    """12 jobs, 3 workers; every second or two a busy worker is SIGKILLed and replaced (up to
    6 kills: 12 jobs still outlast them, and at least 3 must land)."""
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(12):
        shutil.copy(EXAMPLE, folder / f"talk{i:02d}.mp4")
    ids = submit(folder, "--overwrite")
    assert len(ids) == 12
    store = job_store()
    pool = [workers.start() for _ in range(3)]
    rng = random.Random(7)
    killed_jobs: set[str] = set()
    kills = 0
    deadline = time.monotonic() + 240
    while kills < 6 and time.monotonic() < deadline:
        time.sleep(rng.uniform(1, 2))  # the 12 jobs can end in 20 s: 2-4 s made only 2 kills once
        if all(store.get(j).status.ended for j in ids):
            break
        busy = [(w, job) for w in store.list_workers() for job in w.jobs if job not in killed_jobs]
        if not busy:
            continue
        record, job = rng.choice(busy)
        victim = next((p for p in pool if p.poll() is None and p.pid == record.pid), None)
        if victim is None:
            continue
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_jobs.add(job)  # at most one kill per job: a job killed 3 times is dead-lettered
        kills += 1
        pool[pool.index(victim)] = workers.start()
    assert kills >= 3
    docs = settled(stack, store, ids)
    assert all(d["status"] == "completed" for d in docs.values()), docs
    # A kill costs its job one more attempt (the heartbeat may name a job just finished).
    assert sum(d["attempts"] > 1 for d in docs.values()) <= kills
    assert all(d["attempts"] <= 3 for d in docs.values())
    store.close()


def test_poison_messages_do_not_stop_the_worker(stack, workers):
    """Not JSON, an unknown job, a document that does not fit: acknowledged or failed with
    a reason, and the job behind them still runs."""
    from transcriber_cli.aws.sqs import JobQueue
    from transcriber_cli.config import load_settings

    queue = JobQueue.from_settings(load_settings())
    queue.sqs.send_message(QueueUrl=stack["queue_url"], MessageBody="{not json")
    queue.send("0" * 32)  # no such job
    store = job_store()
    (bad,) = submit(EXAMPLE)
    store.jobs.update_one({"_id": bad}, {"$set": {"options.beam_size": 10**9}})
    (good,) = submit(EXAMPLE, "--overwrite")
    worker = workers.start("--idle-exit", "5")
    assert worker.wait(timeout=120) == 0, workers.log(worker)
    log = workers.log(worker)
    assert "dropping a message without a job id" in log and "Traceback" not in log
    raw = store.jobs.find_one({"_id": bad})
    assert raw["status"] == "failed" and "beam_size" in raw["error"]
    assert store.get(good).status.value == "completed"
    wait_for(
        lambda: queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0},
        timeout=30,
        what="an empty queue",
    )
    store.close()
