"""JobStore transitions over TCP to the Mongo wire server, typed documents, the recovery
policy and the Mongo URL from SSM."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from transcriber_cli.errors import MediaError, SetupError
from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.results import ResultSummary
from transcriber_cli.store import mongo
from transcriber_cli.store.documents import (
    OPTIONAL_FIELDS,
    Audio,
    Checkpoint,
    JobDocument,
    JobStatus,
    Source,
)
from transcriber_cli.worker import recovery

SHA = "ab" * 32


@pytest.fixture
def store(mongo_wire: str):
    from transcriber_cli.config import load_settings

    settings = load_settings(mongodb_url=mongo_wire, mongodb_database=f"u{uuid.uuid4().hex[:10]}")
    # No AWS here: SSM is unreachable, so the settings value is the fallback that is used.
    s = mongo.JobStore.from_settings(settings)
    s.ensure_indexes()
    yield s
    s.close()


def new_job(store, key: str = "k1") -> str:
    job_id = uuid.uuid4().hex
    stamp = mongo.now()
    store.create(
        JobDocument(
            _id=job_id,
            options=JobOptions(model="tiny.en", num_speakers=2),
            options_key=key,
            formats=["txt"],
            source=Source(name="a.mp4", sha256=SHA, duration=3.0),
            audio=Audio(sha256=SHA, bytes=10),
            created=stamp,
            updated=stamp,
        )
    )
    return job_id


def test_only_one_worker_claims_and_completes(store):
    job_id = new_job(store)
    first = store.claim(job_id, "w1", lease_seconds=30)
    assert first.status is JobStatus.PROCESSING and first.attempts == 1 and first.worker == "w1"
    assert first.options == JobOptions(model="tiny.en", num_speakers=2)  # typed round trip
    assert store.claim(job_id, "w2", lease_seconds=30) is None  # lease still live
    assert not store.progress(job_id, "w2", stage="transcribe", percent=5, message="x")
    assert store.progress(job_id, "w1", stage="transcribe", percent=5, message="x")
    summary = ResultSummary(duration=3.0, language="en", speakers=["A"])
    done = Checkpoint(seconds=3.0, windows=1, decoded_seconds=3.0)
    assert not store.complete(job_id, "w2", outputs=[], result=summary, seconds=1, checkpoint=done)
    assert store.complete(
        job_id, "w1", outputs=["output/x.txt"], result=summary, seconds=1, checkpoint=done
    )
    # Repeated after a lost reply: "already ours", and nothing is overwritten.
    assert store.complete(job_id, "w1", outputs=[], result=summary, seconds=1, checkpoint=done)
    assert not store.complete(job_id, "w2", outputs=[], result=summary, seconds=1, checkpoint=done)
    doc = store.get(job_id)
    assert doc.status is JobStatus.COMPLETED and doc.result == summary
    assert doc.outputs == ["output/x.txt"] and doc.cost.seconds == 1
    assert doc.checkpoint == done and doc.workers == ["w1"]
    assert store.claim(job_id, "w3", lease_seconds=30) is None  # completed stays completed
    assert store.find_reusable(SHA, "k1").id == job_id
    assert store.find_reusable(SHA, "other-options") is None


def test_the_document_holds_state_and_pointers_not_the_transcript(store):
    """The transcript lives once, in the S3 exports: no segments or words in Mongo."""
    job_id = new_job(store)
    store.claim(job_id, "w1", lease_seconds=30)
    store.complete(
        job_id,
        "w1",
        outputs=["output/x.json"],
        result=ResultSummary(),
        seconds=1,
        checkpoint=Checkpoint(seconds=3, windows=1),
    )
    raw = store.jobs.find_one({"_id": job_id})
    assert "segments" not in raw and "segments" not in raw["result"]
    # every field, but `gpu` only where a worker with several devices ran it
    assert set(raw) == set(JobDocument.model_fields) - {"id", *OPTIONAL_FIELDS} | {"_id"}
    assert store.db["segments"].count_documents({}) == 0


def test_documents_are_validated_on_read(store):
    job_id = new_job(store)
    store.jobs.update_one({"_id": job_id}, {"$set": {"options.beam_size": 10**9}})
    with pytest.raises(mongo.BadJobDocument, match="beam_size"):
        store.get(job_id)
    store.jobs.update_one({"_id": job_id}, {"$set": {"options.beam_size": 5, "audio_key": "x"}})
    with pytest.raises(mongo.BadJobDocument, match="audio_key"):  # unknown fields are refused
        store.get(job_id)


def test_expired_lease_is_taken_over(store):
    job_id = new_job(store)
    assert store.claim(job_id, "w1", lease_seconds=0.2)
    time.sleep(0.4)
    taken = store.claim(job_id, "w2", lease_seconds=30)
    assert taken.worker == "w2" and taken.attempts == 2
    assert not store.renew(job_id, "w1", 30)  # the old worker learns it lost the job
    assert store.renew(job_id, "w2", 30)


def test_cancel_retry_fail_release(store):
    job_id = new_job(store)
    store.claim(job_id, "w1", lease_seconds=30)
    assert store.cancel(job_id).status is JobStatus.CANCELLED
    assert not store.renew(job_id, "w1", 30)  # the worker stops at its next beat
    with pytest.raises(mongo.JobStateError, match="nothing to cancel"):
        store.cancel(job_id)
    assert store.retry(job_id).attempts == 0
    store.claim(job_id, "w1", lease_seconds=30)
    assert store.fail(job_id, "w1", "boom", final=False)
    assert store.get(job_id).status is JobStatus.QUEUED
    store.claim(job_id, "w1", lease_seconds=30)
    assert store.release(job_id, "w1", "spot interruption")
    doc = store.get(job_id)
    assert doc.status is JobStatus.QUEUED and doc.attempts == 1  # release undoes the count
    store.claim(job_id, "w1", lease_seconds=30)
    assert store.fail(job_id, "w1", "bad audio", final=True)
    assert store.get(job_id).status is JobStatus.FAILED
    assert not store.mark_dead(job_id, "dlq")  # already ended: the first reason stays
    other = new_job(store)
    assert store.mark_dead(other, "moved to the dead-letter queue")
    assert store.get(other).error == "moved to the dead-letter queue"
    with pytest.raises(mongo.JobNotFound):
        store.get("missing")


def test_dead_letter_never_fails_a_job_a_worker_holds(store):
    job_id = new_job(store)
    store.claim(job_id, "w1", lease_seconds=30)
    assert not store.mark_dead(job_id, "dlq")  # a live lease: its holder finishes it
    assert store.get(job_id).status is JobStatus.PROCESSING
    lapsed = new_job(store)
    store.claim(lapsed, "w1", lease_seconds=0.1)
    time.sleep(0.3)
    assert store.mark_dead(lapsed, "dlq")  # nobody holds it: the worker died each time
    assert store.get(lapsed).status is JobStatus.FAILED


def test_a_release_past_the_probed_length_leaves_a_readable_document(store):
    """A worker's progress is its seconds over a length: past 100 where the audio outlasts
    the client's probe (a VBR mp3's estimate). A release wrote it as it came, and every read
    of the document failed after (the next claim failed the job for good)."""
    job_id = new_job(store)
    store.claim(job_id, "w1", lease_seconds=30)
    assert store.release(job_id, "w1", "spot interruption", percent=114.3)
    assert store.get(job_id).progress == 100
    assert store.claim(job_id, "w2", lease_seconds=30) is not None


def test_checkpoint_survives_release_and_failure_until_retry(store):
    job_id = new_job(store)
    store.claim(job_id, "w1", lease_seconds=30, message_id="m1")
    saved = Checkpoint(seconds=120, windows=2, decoded_seconds=130)
    assert store.save_checkpoint(job_id, "w1", saved, percent=40, message="checkpoint")
    assert not store.save_checkpoint(job_id, "w2", saved, percent=40, message="not ours")
    assert store.release(job_id, "w1", "spot interruption", percent=40)
    doc = store.get(job_id)
    assert doc.status is JobStatus.QUEUED and doc.checkpoint == saved and doc.progress == 40
    store.claim(job_id, "w2", lease_seconds=30, message_id="m2")
    assert store.fail(job_id, "w2", "blip", final=False)
    doc = store.get(job_id)
    assert doc.checkpoint == saved and doc.workers == ["w1", "w2"] and doc.message_id == "m2"
    store.claim(job_id, "w3", lease_seconds=30)
    store.fail(job_id, "w3", "bad", final=True)
    assert store.retry(job_id).checkpoint == Checkpoint()  # asked to redo: from the start


def test_dead_workers_leave_fleet_status(store):
    store.heartbeat("alive", instance_id=None, instance_type=None, jobs=[], heartbeat_seconds=5)
    store.heartbeat("killed", instance_id=None, instance_type=None, jobs=[], heartbeat_seconds=5)
    old = mongo.now() - dt.timedelta(seconds=60)  # three intervals, or 30 s at least, ago
    store.workers.update_one({"_id": "killed"}, {"$set": {"last_seen": old}})
    assert [w.id for w in store.list_workers()] == ["alive"]
    assert store.workers.count_documents({}) == 1  # pruned, not only hidden


def test_list_and_workers(store):
    ids = []
    for _ in range(3):
        ids.append(new_job(store))
        time.sleep(0.005)  # BSON dates keep milliseconds: distinct creation times, newest first
    store.claim(ids[0], "w1", lease_seconds=30)
    assert [d.id for d in store.list_jobs("queued")] == list(reversed(ids[1:]))
    assert len(store.list_jobs()) == 3
    store.heartbeat("w1", instance_id="i-1", instance_type="g5.xlarge", jobs=[ids[0]])
    beats = store.list_workers()
    assert beats[0].id == "w1" and beats[0].jobs == [ids[0]]
    assert beats[0].last_seen > dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)
    store.remove_worker("w1")
    assert store.list_workers() == []


def test_public_form_is_the_document_with_a_job_id(store):
    doc = store.get(new_job(store))
    data = doc.public()
    assert data["schema"] == "transcriber.job/1" and data["job_id"] == doc.id
    assert set(data) == {"schema", "job_id"} | set(JobDocument.model_fields) - {"id"}
    assert data["options"]["num_speakers"] == 2 and data["status"] == "queued"


def test_wire_server_returns_whole_cursors(store):
    """pymongo must never need getMore: a 1000-document find comes back in one batch."""
    store.jobs.insert_many([{"_id": f"x{i}", "status": "completed"} for i in range(1000)])
    cursor = store.jobs.find({"status": "completed"})
    first = next(cursor)
    assert first and cursor.cursor_id == 0  # nothing left on the server
    assert len(list(store.jobs.find({"status": "completed"}))) == 1000


def test_unreachable_mongo_is_one_line_without_secrets():
    from transcriber_cli.config import load_settings

    settings = load_settings(
        mongodb_url="mongodb://user:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=300",
        outage_patience=0,
    )
    store = mongo.JobStore.from_settings(settings)
    with pytest.raises(SetupError) as info:
        store.get("x")
    assert "hunter2" not in str(info.value) and "cannot reach MongoDB" in str(info.value)


def test_mongo_url_from_ssm(aws, mongo_wire, monkeypatch):
    from transcriber_cli.aws.secrets import resolve_secret
    from transcriber_cli.aws.session import client
    from transcriber_cli.config import load_settings

    ssm = client("ssm", "us-east-1")
    ssm.put_parameter(Name="/transcriber/demo/mongodb_url", Value=mongo_wire, Type="SecureString")
    monkeypatch.setenv("TRANSCRIBER_MONGODB_URL", "mongodb://fallback.invalid/")
    settings = load_settings(stack="demo")
    assert resolve_secret(settings, "mongodb_url").get_secret_value() == mongo_wire
    assert mongo_wire not in repr(resolve_secret(settings, "mongodb_url"))
    other = load_settings(stack="other")  # no parameter: the environment is the fallback
    assert resolve_secret(other, "mongodb_url").get_secret_value() == "mongodb://fallback.invalid/"
    store = mongo.JobStore.from_settings(settings)
    store.db.command("ping")
    store.close()


def doc_with(status: JobStatus) -> JobDocument:
    stamp = mongo.now()
    return JobDocument(
        _id=uuid.uuid4().hex,
        status=status,
        options=JobOptions(),
        options_key="k",
        source=Source(name="a.mp4", sha256=SHA, duration=1.0),
        audio=Audio(sha256=SHA, bytes=1),
        created=stamp,
        updated=stamp,
    )


def test_recovery_policy():
    assert recovery.on_delivery(None, False, "m1") is recovery.Delivery.ACK
    for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        assert recovery.on_delivery(doc_with(status), False, "m1") is recovery.Delivery.ACK
    processing = doc_with(JobStatus.PROCESSING).model_copy(update={"message_id": "m1"})
    # The holder's own message back early waits for the lease; a second copy is dropped
    # (deferring it would use up its receives and dead-letter a healthy job).
    assert recovery.on_delivery(processing, False, "m1") is recovery.Delivery.DEFER
    assert recovery.on_delivery(processing, False, "m2") is recovery.Delivery.ACK
    assert recovery.on_delivery(doc_with(JobStatus.QUEUED), True, "m2") is recovery.Delivery.PROCESS
    poison = recovery.on_failure(MediaError("x: cannot decode audio"), 1, 3, 30)
    assert poison.final and poison.dead_letter_now
    transient = recovery.on_failure(RuntimeError("s3 blip"), 2, 3, 30)
    assert not transient.final and transient.retry_after == 60
    last = recovery.on_failure(RuntimeError("s3 blip"), 3, 3, 30, receive_count=3)
    assert last.final and not last.dead_letter_now  # SQS moves it on its next receive
    # The job's last attempt on a message the sweep sent again (its receives to spare):
    # moved to the DLQ here, or the next worker deleted it and the DLQ's alarm stayed quiet.
    resent = recovery.on_failure(RuntimeError("s3 blip"), 3, 3, 30, receive_count=1)
    assert resent.final and resent.dead_letter_now
    kw = dict(elapsed=10.0, total=100.0, grace=30.0)
    assert not recovery.should_release(stopping=False, interrupted=False, done=50, **kw)
    assert not recovery.should_release(stopping=True, interrupted=False, done=90, **kw)
    assert recovery.should_release(stopping=True, interrupted=False, done=10, **kw)
    assert recovery.should_release(stopping=False, interrupted=True, done=99, **kw)


def test_store_waits_out_an_outage_and_says_so(mongo_wire, caplog):
    """MongoDB cut for 8 s (a real TCP proxy resets the connections), longer than one
    attempt's server selection (5 s) and pymongo's one retry: a call with patience waits and
    succeeds; one without patience fails with one typed line."""
    from tests.faults import TcpProxy
    from transcriber_cli.config import load_settings

    with TcpProxy.for_url(mongo_wire) as proxy:
        settings = load_settings(
            mongodb_url=proxy.rewrite(mongo_wire),
            mongodb_database=f"u{uuid.uuid4().hex[:10]}",
            outage_patience=30,
        )
        store = mongo.JobStore.from_settings(settings)
        job_id = new_job(store)
        proxy.cut_for(8)
        started = time.monotonic()
        with caplog.at_level("WARNING"):
            assert store.get(job_id).id == job_id
        assert 7.5 < time.monotonic() - started < 25
        assert "waiting for MongoDB" in caplog.text and "MongoDB is back" in caplog.text
        proxy.cut()
        with pytest.raises(mongo.StoreUnavailable, match="cannot reach MongoDB"):
            store.renew(job_id, "w1", 30)  # no patience: the next beat tries again
        proxy.restore()
        store.close()


# The job options of the previous release (e49a1eb): what its workers accept. Its model
# forbade unknown fields and a batch size below 1.
PREVIOUS_RELEASE_FIELDS = {
    "num_speakers", "min_speakers", "max_speakers", "speaker_names", "language", "task",
    "beam_size", "batch_size", "vad", "word_timestamps", "initial_prompt", "hotwords", "model",
    "compute_type", "diarize", "diarization_model",
}  # fmt: skip


def test_job_options_stay_readable_by_the_previous_workers() -> None:
    """During a rolling `fleet update` old workers take jobs new clients submit."""
    from transcriber_cli.config import Settings

    stored = JobOptions.build(Settings()).model_dump(mode="json")
    assert set(stored) <= PREVIOUS_RELEASE_FIELDS
    assert stored.get("batch_size", 8) >= 1  # auto (0) is left out: they use their own 8
    assert JobOptions.model_validate(stored) == JobOptions.build(Settings())  # and back
    chosen = JobOptions.build(Settings(batch_size=16, max_new_tokens=100,
                                       suppress_tokens=[-1, 50256]))  # fmt: skip
    kept = chosen.model_dump(mode="json")  # a choice the user made travels
    assert (kept["batch_size"], kept["max_new_tokens"], kept["suppress_tokens"]) == (
        16, 100, [-1, 50256])  # fmt: skip
    assert JobOptions.model_validate(kept) == chosen


def test_gpu_is_stored_only_for_a_worker_with_several_devices(store):
    """A one-device worker's claim writes no `gpu` key at all (clients of 0.1.0 refuse
    unknown fields); a device label is stored, and removed again on release."""
    job_id = new_job(store)
    assert "gpu" not in store.jobs.find_one({"_id": job_id})  # as created by a client
    store.claim(job_id, "w1", lease_seconds=30)
    assert "gpu" not in store.jobs.find_one({"_id": job_id})
    assert store.release(job_id, "w1", "spot interruption")
    store.claim(job_id, "w2", lease_seconds=30, gpu="cuda:1")
    assert store.jobs.find_one({"_id": job_id})["gpu"] == "cuda:1"
    assert store.get(job_id).gpu == "cuda:1"
    assert store.release(job_id, "w2", "spot interruption")
    raw = store.jobs.find_one({"_id": job_id})
    assert "gpu" not in raw and raw["worker"] is None


def test_the_shutdown_grace_is_judged_on_one_scale_across_stages(store):
    """A job resumed at 3000 of 3600 s, stopped (SIGTERM) 5 s into its attempt while it
    diarizes: it will end within the grace, so it finishes. The estimate subtracted the
    resume point (transcription seconds) from the diarization's seconds, which start at
    0 again, and released it. A fresh attempt far from its end is still released."""
    from transcriber_cli.worker.job import Lease, ProgressWriter, ReleaseRequested, WorkerState

    def writer(job_id: str, state: WorkerState) -> ProgressWriter:
        assert store.claim(job_id, "w", lease_seconds=60) is not None
        lease = Lease(None, store, None, job_id, "w", 60)  # type: ignore[arg-type]
        started = time.monotonic() - 5
        progress = ProgressWriter(store, job_id, "w", lease, state, started, 3600.0)
        progress.has_diarizer = True
        return progress

    state = WorkerState(worker_id="w", shutdown_grace=60)
    resumed = writer(new_job(store), state)
    resumed("transcribe", 3000, 3600)  # the first report of the attempt: where it resumed
    resumed("transcribe", 3600, 3600)
    state.stopping.set()
    resumed("diarize", 2990, 3600)  # about 5 s done, under 1 s left: finish
    with pytest.raises(ReleaseRequested):
        fresh = writer(new_job(store, "k2"), WorkerState(worker_id="w", shutdown_grace=60))
        fresh("transcribe", 100, 3600)
        fresh.state.stopping.set()
        fresh("transcribe", 200, 3600)  # a few % in 5 s: minutes left, beyond the grace
