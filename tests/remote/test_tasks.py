"""TaskStore transitions over TCP to the Mongo wire server; the recovery policy; secrets."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from transcriber_cli.errors import MediaError, SetupError
from transcriber_cli.remote import tasks as t
from transcriber_cli.worker import recovery


@pytest.fixture
def store(mongo_wire: str):
    from transcriber_cli.config import load_settings

    settings = load_settings(mongodb_url=mongo_wire, mongodb_database=f"u{uuid.uuid4().hex[:10]}")
    # No AWS here: SSM is unreachable, so the settings value is the fallback that is used.
    s = t.TaskStore.from_settings(settings)
    s.ensure_indexes()
    yield s
    s.close()


def new_task(store, **extra) -> str:
    task_id = uuid.uuid4().hex
    store.create(
        {
            "_id": task_id,
            "source": {"name": "a.mp4", "sha256": "ab" * 32, "duration": 3.0},
            "options_key": "k1",
            "audio_key": f"uploads/{task_id}.mp3",
            **extra,
        }
    )
    return task_id


def test_only_one_worker_claims_and_completes(store):
    task_id = new_task(store)
    first = store.claim(task_id, "w1", lease_seconds=30)
    assert first["status"] == "processing" and first["attempts"] == 1 and first["worker"] == "w1"
    assert store.claim(task_id, "w2", lease_seconds=30) is None  # lease still live
    assert not store.progress(task_id, "w2", stage="transcribe", percent=5, message="x")
    assert store.progress(task_id, "w1", stage="transcribe", percent=5, message="x")
    assert not store.complete(task_id, "w2", outputs=[], transcript={"segments": []}, seconds=1)
    assert store.complete(
        task_id,
        "w1",
        outputs=["output/x.txt"],
        transcript={"segments": [{"text": "hi"}], "duration": 3.0},
        seconds=1,
    )
    assert not store.complete(task_id, "w1", outputs=[], transcript={"segments": []}, seconds=1)
    doc = store.get(task_id, segments=True)
    assert doc["status"] == "completed" and doc["segments"] == [{"text": "hi"}]
    assert store.claim(task_id, "w3", lease_seconds=30) is None  # completed stays completed
    assert store.find_reusable("ab" * 32, "k1")["_id"] == task_id
    assert store.find_reusable("ab" * 32, "other-options") is None


def test_expired_lease_is_taken_over(store):
    task_id = new_task(store)
    assert store.claim(task_id, "w1", lease_seconds=0.2)
    time.sleep(0.4)
    taken = store.claim(task_id, "w2", lease_seconds=30)
    assert taken["worker"] == "w2" and taken["attempts"] == 2
    assert not store.renew(task_id, "w1", 30)  # the old worker learns it lost the task
    assert store.renew(task_id, "w2", 30)


def test_cancel_retry_fail_release(store):
    task_id = new_task(store)
    store.claim(task_id, "w1", lease_seconds=30)
    assert store.cancel(task_id)["status"] == "cancelled"
    assert not store.renew(task_id, "w1", 30)  # the worker stops at its next beat
    with pytest.raises(t.TaskStateError, match="nothing to cancel"):
        store.cancel(task_id)
    assert store.retry(task_id)["attempts"] == 0
    store.claim(task_id, "w1", lease_seconds=30)
    assert store.fail(task_id, "w1", "boom", final=False)
    assert store.get(task_id)["status"] == "queued"
    store.claim(task_id, "w1", lease_seconds=30)
    assert store.release(task_id, "w1", "spot interruption")
    doc = store.get(task_id)
    assert doc["status"] == "queued" and doc["attempts"] == 1  # release undoes the claim's count
    store.claim(task_id, "w1", lease_seconds=30)
    assert store.fail(task_id, "w1", "bad audio", final=True)
    assert store.get(task_id)["status"] == "failed"
    assert not store.mark_dead(task_id, "dlq")  # already ended: the first reason stays
    other = new_task(store)
    assert store.mark_dead(other, "moved to the dead-letter queue")
    assert store.get(other)["error"] == "moved to the dead-letter queue"
    with pytest.raises(t.TaskNotFound):
        store.get("missing")


def test_large_segments_go_to_a_sibling_collection(store, monkeypatch):
    monkeypatch.setattr(t, "INLINE_SEGMENTS_BYTES", 1000)
    monkeypatch.setattr(t, "SEGMENTS_PER_CHUNK", 7)
    task_id = new_task(store)
    store.claim(task_id, "w1", lease_seconds=30)
    segments = [{"id": i, "text": f"segment number {i}"} for i in range(50)]
    assert store.complete(
        task_id, "w1", outputs=[], transcript={"segments": list(segments)}, seconds=1
    )
    assert store.get(task_id, segments=True)["segments"] == {"collection": "segments", "count": 50}
    assert store.load_segments(task_id) == segments
    assert store.segments.count_documents({"task_id": task_id}) == 8


def test_list_and_workers(store):
    ids = []
    for _ in range(3):
        ids.append(new_task(store))
        time.sleep(0.005)  # BSON dates keep milliseconds: distinct creation times, newest first
    store.claim(ids[0], "w1", lease_seconds=30)
    assert [d["_id"] for d in store.list_tasks("queued")] == list(reversed(ids[1:]))
    assert len(store.list_tasks()) == 3 and "segments" not in store.list_tasks()[0]
    store.heartbeat("w1", instance_id="i-1", instance_type="g5.xlarge", jobs=[ids[0]])
    beats = store.list_workers()
    assert beats[0]["_id"] == "w1" and beats[0]["jobs"] == [ids[0]]
    assert beats[0]["last_seen"] > dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=10)
    store.remove_worker("w1")
    assert store.list_workers() == []


def test_wire_server_returns_whole_cursors(store):
    """pymongo must never need getMore: a 1000-document find comes back in one batch."""
    store.tasks.insert_many([{"_id": f"x{i}", "status": "completed"} for i in range(1000)])
    cursor = store.tasks.find({"status": "completed"})
    first = next(cursor)
    assert first and cursor.cursor_id == 0  # nothing left on the server
    assert len(list(store.tasks.find({"status": "completed"}))) == 1000


def test_unreachable_mongo_is_one_line_without_secrets():
    from transcriber_cli.config import load_settings

    settings = load_settings(
        mongodb_url="mongodb://user:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=300"
    )
    store = t.TaskStore.from_settings(settings)
    with pytest.raises(SetupError) as info:
        store.get("x")
    assert "hunter2" not in str(info.value) and "cannot reach MongoDB" in str(info.value)


def test_mongo_url_from_ssm(aws, mongo_wire, monkeypatch):
    from transcriber_cli.config import load_settings
    from transcriber_cli.remote import aws as adaptor
    from transcriber_cli.remote.secrets import resolve_secret

    ssm = adaptor.client("ssm", "us-east-1")
    ssm.put_parameter(Name="/transcriber/demo/mongodb_url", Value=mongo_wire, Type="SecureString")
    monkeypatch.setenv("TRANSCRIBER_MONGODB_URL", "mongodb://fallback.invalid/")
    settings = load_settings(stack="demo")
    assert resolve_secret(settings, "mongodb_url").get_secret_value() == mongo_wire
    assert mongo_wire not in repr(resolve_secret(settings, "mongodb_url"))
    other = load_settings(stack="other")  # no parameter: the environment is the fallback
    assert resolve_secret(other, "mongodb_url").get_secret_value() == "mongodb://fallback.invalid/"
    store = t.TaskStore.from_settings(settings)
    store.tasks.database.command("ping")
    store.close()


def test_recovery_policy():
    assert recovery.on_delivery(None, claimed=False) is recovery.Delivery.ACK
    for status in t.TERMINAL:
        assert recovery.on_delivery({"status": status}, claimed=False) is recovery.Delivery.ACK
    assert recovery.on_delivery({"status": "processing"}, False) is recovery.Delivery.DEFER
    assert recovery.on_delivery({"status": "queued"}, True) is recovery.Delivery.PROCESS
    poison = recovery.on_failure(MediaError("x: cannot decode audio"), 1, 3, 30)
    assert poison.final and poison.dead_letter_now
    transient = recovery.on_failure(RuntimeError("s3 blip"), 2, 3, 30)
    assert not transient.final and transient.retry_after == 60
    last = recovery.on_failure(RuntimeError("s3 blip"), 3, 3, 30)
    assert last.final and not last.dead_letter_now
    kw = dict(elapsed=10.0, total=100.0, grace=30.0)
    assert not recovery.should_release(stopping=False, interrupted=False, done=50, **kw)
    assert not recovery.should_release(stopping=True, interrupted=False, done=90, **kw)
    assert recovery.should_release(stopping=True, interrupted=False, done=10, **kw)
    assert recovery.should_release(stopping=False, interrupted=True, done=99, **kw)
