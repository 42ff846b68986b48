"""``transcriber worker --gpus``: one consumer per device, each with its own model copy.

On the CPU ``--gpus 2`` runs two model copies ("cpu#0", "cpu#1"): the same slots, leases,
heartbeats and stop flags as two GPUs, with a real worker process, moto and the Mongo wire
server."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import json_lines
from tests.fake_imds import FakeImds
from tests.remote.conftest import wait_for
from tests.remote.test_e2e import EXAMPLE, job_store, queue_depth, run

pytestmark = pytest.mark.slow
PHRASES = ("weekly planning meeting", "budget for the new project")


def submit(*paths: str) -> list[str]:
    proc = run(*paths, "--remote", "--no-wait", "--json")
    assert proc.returncode == 0, proc.stderr
    return [line["job_id"] for line in json_lines(proc.stdout)]


def output_text(bucket: str, key: str) -> str:
    from transcriber_cli.aws import session as aws

    body = aws.client("s3", "us-east-1").get_object(Bucket=bucket, Key=key)["Body"]
    return body.read().decode()


def overlap(a, b) -> bool:
    return a.started < b.finished and b.started < a.finished


def test_two_cpu_copies_run_two_jobs_at_once_each_exactly_once(
    stack, workers, looped_media, tmp_path
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, source in enumerate((EXAMPLE, looped_media(2), looped_media(3), EXAMPLE)):
        shutil.copy(source, inputs / f"talk{i}.mp4")
    ids = submit(*(str(p) for p in sorted(inputs.iterdir())))
    assert len(ids) == 4
    store = job_store()
    worker = workers.start("--device", "cpu", "--gpus", "2", "--idle-exit", "8")

    # While both copies work, the heartbeat lists both devices busy, each with its own job.
    def both_busy():
        beats = store.list_workers()
        return beats and beats[0].gpus_busy == 2 and beats[0]

    beat = wait_for(both_busy, timeout=120, interval=0.2, what="a heartbeat with 2 busy")
    assert sorted(beat.gpus) == ["cpu#0", "cpu#1"]
    assert all(len(jobs) == 1 for jobs in beat.gpus.values())
    assert sorted(j for jobs in beat.gpus.values() for j in jobs) == sorted(beat.jobs)

    assert worker.wait(timeout=300) == 0, workers.log(worker)
    log = workers.log(worker)
    assert "on cpu#0, cpu#1 polling" in log, log
    docs = {j: store.get(j) for j in ids}
    assert {d.status.value for d in docs.values()} == {"completed"}, log
    # Exactly once: one claim, one worker, one "processing" line per job.
    for job_id, doc in docs.items():
        assert doc.attempts == 1 and len(doc.workers) == 1, doc
        assert log.count(f"processing job {job_id} on {doc.gpu}") == 1
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    # Both devices worked, and at the same time.
    assert {d.gpu for d in docs.values()} == {"cpu#0", "cpu#1"}
    spans = [(d.gpu, d.started, d.finished) for d in docs.values()]
    assert any(overlap(a, b) for a in docs.values() for b in docs.values() if a.gpu != b.gpu), spans
    # Each copy transcribed what it was given.
    for doc in docs.values():
        (txt,) = [k for k in doc.outputs if k.endswith(".txt")]
        text = output_text(stack["bucket"], txt).lower()
        assert all(text.count(p) == round(doc.source.duration / 33) for p in PHRASES), text
    assert "Traceback" not in log
    store.close()


def test_a_spot_notice_releases_the_job_of_every_device(stack, workers, looped_media, tmp_path):
    """The notice reaches both slots: both jobs go back to the queue with their finished
    windows checkpointed, and another worker completes them from there."""
    env = {"TRANSCRIBER_WINDOW_SECONDS": "30"}
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b"):
        shutil.copy(looped_media(4), inputs / f"{name}.mp4")
    ids = submit(str(inputs / "a.mp4"), str(inputs / "b.mp4"))
    store = job_store()
    with FakeImds() as imds:
        first = workers.start("--device", "cpu", "--gpus", "2", env={
            **env, "TRANSCRIBER_IMDS_URL": imds.url, "TRANSCRIBER_SPOT_POLL_SECONDS": "0.3",
        })  # fmt: skip

        def both_checkpointed() -> bool:
            docs = [store.get(j) for j in ids]
            return all(d.checkpoint.windows >= 1 and d.status.value == "processing"
                       for d in docs) and {d.gpu for d in docs} == {"cpu#0", "cpu#1"}  # fmt: skip

        wait_for(both_checkpointed, timeout=240, interval=0.2, what="a window done on each")
        imds.notice()
        assert first.wait(timeout=60) == 0, workers.log(first)
    log = workers.log(first)
    released = {j: store.get(j) for j in ids}
    for job_id, doc in released.items():
        assert doc.status.value == "queued" and doc.message == "released: spot interruption"
        assert doc.worker is None and doc.gpu is None and doc.attempts == 0
        assert doc.checkpoint.windows >= 1
        assert f"released job {job_id}: spot interruption" in log
    assert queue_depth(stack["queue_url"])["visible"] == 2  # both messages back, none lost

    second = workers.start("--device", "cpu", "--gpus", "2", "--idle-exit", "8", env=env)
    assert second.wait(timeout=300) == 0, workers.log(second)
    for job_id in ids:
        doc = store.get(job_id)
        assert doc.status.value == "completed" and len(doc.workers) == 2
        assert f"{released[job_id].checkpoint.seconds:.0f} s done before" in workers.log(second)
        (txt,) = [k for k in doc.outputs if k.endswith(".txt")]
        assert output_text(stack["bucket"], txt).lower().count(PHRASES[0]) == 4
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


def test_once_with_two_consumers_finishes_the_job_it_took(stack, workers):
    """``--once --concurrency 2`` with one job: the consumer that finds the queue empty ends
    alone. It used to stop the whole worker, which released the job the other consumer was
    running ("worker shutting down") and exited with it back in the queue."""
    (job_id,) = submit(str(EXAMPLE))
    worker = workers.start("--device", "cpu", "--concurrency", "2", "--once")
    assert worker.wait(timeout=240) == 0, workers.log(worker)
    log = workers.log(worker)
    doc = job_store().get(job_id)
    assert doc.status.value == "completed" and doc.attempts == 1, log
    assert "released" not in log and "Traceback" not in log, log
    (txt,) = [k for k in doc.outputs if k.endswith(".txt")]
    assert PHRASES[0] in output_text(stack["bucket"], txt).lower()
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}


def test_once_with_two_consumers_lets_the_longer_job_finish(stack, workers, looped_media):
    """``--once --concurrency 2`` with a short and a long job, one on each consumer: the
    one that finished first stopped the worker, and the other job was released."""
    ids = submit(str(EXAMPLE), str(looped_media(3)))
    worker = workers.start("--device", "cpu", "--concurrency", "2", "--once")
    assert worker.wait(timeout=240) == 0, workers.log(worker)
    log = workers.log(worker)
    store = job_store()
    for job_id in ids:
        doc = store.get(job_id)
        assert doc.status.value == "completed" and doc.attempts == 1, log
    assert "released" not in log and "Traceback" not in log, log
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


@pytest.mark.parametrize("concurrency", [2, 1])
def test_windows_in_flight_follow_the_jobs_running_on_a_slot(
    stack, concurrency, watch_windows_rule
):
    """A worker tells the automatic windows-in-flight rule how many jobs run on the slot as
    a job starts, as a local run tells it its files (a GPU's 4 windows only for a job alone:
    jobs beside it already fill the decoder calls), not how many it could take: a job alone
    on a worker that takes 2 at once still gets its four windows. Watched in-process on a
    real job."""
    from transcriber_cli.config import load_settings
    from transcriber_cli.worker import job as worker_job
    from transcriber_cli.worker.loop import Worker

    told = watch_windows_rule(worker_job)
    (job_id,) = submit(str(EXAMPLE))
    summary = Worker(load_settings(), concurrency=concurrency, once=True).run()
    assert summary.outcomes == {"completed": 1}, summary
    assert told == [1]
    doc = job_store().get(job_id)
    assert doc.status.value == "completed"
    (txt,) = [k for k in doc.outputs if k.endswith(".txt")]
    assert PHRASES[0] in output_text(stack["bucket"], txt).lower()


def test_jobs_spread_over_every_device_before_one_takes_a_second(stack, workers, tmp_path):
    """With several jobs at once per device, every consumer polls the one queue: the first
    jobs of a backlog must still go one to each device (a device holding more than another
    waits its turn to poll), not two to one device while another idles."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(2):
        shutil.copy(EXAMPLE, inputs / f"talk{i}.mp4")
    ids = submit(*(str(p) for p in sorted(inputs.iterdir())))
    store = job_store()
    worker = workers.start("--device", "cpu", "--gpus", "2", "--concurrency", "3",
                           "--idle-exit", "5")  # fmt: skip
    assert worker.wait(timeout=300) == 0, workers.log(worker)
    docs = [store.get(j) for j in ids]
    store.close()
    assert [d.status.value for d in docs] == ["completed", "completed"], workers.log(worker)
    assert sorted(d.gpu for d in docs) == ["cpu#0", "cpu#1"], workers.log(worker)
    assert overlap(*docs), [(d.gpu, d.started, d.finished) for d in docs]
