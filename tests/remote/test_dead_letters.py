"""The dead-letter sweep (worker/loop.py ``sweep_dead_letters``, run by every worker each
minute) against a moto SQS server and the Mongo wire server: messages and documents are
untrusted, and one that cannot be read must not stop the sweep's other messages."""

from __future__ import annotations

import json

import pytest

from tests.remote.test_e2e import job_store
from tests.store.test_store import new_job


@pytest.fixture
def queue(stack):
    from transcriber_cli.aws.sqs import JobQueue
    from transcriber_cli.config import load_settings

    return JobQueue.from_settings(load_settings())


def _bodies(queue, url: str) -> list[dict | str]:
    found = queue.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    out: list[dict | str] = []
    for m in found.get("Messages", []):
        try:
            out.append(json.loads(m["Body"]))
        except (ValueError, RecursionError):
            out.append(m["Body"][:8])
    return out


def test_a_document_no_worker_can_run_does_not_stop_the_sweep(stack, queue) -> None:
    """A document that fails validation is failed and dead-lettered when claimed; its copy
    stays in the DLQ for 14 days. The sweep raised on it, every minute on every worker, and
    never reached the messages after it: a job sent back by Spot releases stayed queued
    with no message, and its client waited for ever."""
    from transcriber_cli.worker.loop import sweep_dead_letters

    store = job_store()
    bad = new_job(store)
    store.jobs.update_one({"_id": bad}, {"$set": {"options.beam_size": 1000}})  # past its bound
    good = new_job(store)  # queued, no attempt left running: its message was lost to the DLQ
    dlq = stack["dlq_url"]
    queue.send(bad, url=dlq, reason="invalid document")
    queue.send(good, url=dlq)
    counts = sweep_dead_letters(queue, store)
    assert counts == {"failed": 0, "requeued": 1, "cleared": 0}
    assert _bodies(queue, stack["queue_url"]) == [{"job_id": good}]
    assert _bodies(queue, dlq) == [{"job_id": bad}]  # kept, for people and the alarm
    store.close()


def test_a_message_nested_past_the_stack_is_one_without_a_job(stack, queue) -> None:
    """A body of 100,000 brackets made JSON's parser raise RecursionError: the worker's
    receive failed on it (3 times, then it sat in the DLQ), and every sweep after it."""
    from transcriber_cli.worker.loop import sweep_dead_letters

    deep = "[" * 100_000
    queue.sqs.send_message(QueueUrl=stack["queue_url"], MessageBody=deep)
    (message,) = queue.receive(1, wait_seconds=1)
    assert message.job_id is None and message.body == deep
    store = job_store()
    good = new_job(store)
    queue.sqs.send_message(QueueUrl=stack["dlq_url"], MessageBody=deep)
    queue.send(good, url=stack["dlq_url"])
    assert sweep_dead_letters(queue, store)["requeued"] == 1
    assert _bodies(queue, stack["queue_url"]) == [{"job_id": good}]
    store.close()
