"""Reads of objects AWS will not show. The worker and client roles have no s3:ListBucket on
uploads/ or temp/, so AWS answers a read of a missing object there with 403 AccessDenied,
not 404 (moto answers 404; ``S3WithoutList`` answers as AWS does). A checkpoint that expired
with temp/ must start the job over, and an upload that is gone must say it may be missing,
not only that access was denied."""

from __future__ import annotations

import boto3
import pytest

from tests.faults import S3WithoutList
from tests.remote.conftest import wait_for
from tests.remote.test_chaos import submit
from tests.remote.test_e2e import EXAMPLE, job_store, queue_depth
from transcriber_cli.aws.errors import Client, PermissionDenied
from transcriber_cli.aws.s3 import Storage, StorageDenied, audio_key, checkpoint_key


@pytest.fixture
def listless(moto_server):
    with S3WithoutList(moto_server) as proxy:
        yield proxy


def test_a_missing_object_read_as_aws_answers_it_says_it_may_be_missing(aws, listless, tmp_path):
    direct = boto3.client("s3", region_name="us-east-1")
    direct.create_bucket(Bucket="denied-bucket")
    direct.put_object(Bucket="denied-bucket", Key="temp/there.json", Body=b'{"a": 1}')
    proxied = boto3.client("s3", region_name="us-east-1", endpoint_url=listless.url)
    storage = Storage(proxied, "denied-bucket")
    assert storage.get_text("temp/there.json") == '{"a": 1}'  # what exists passes through
    assert storage.size("temp/there.json") == 8
    for read in (
        lambda: storage.get_text("temp/gone.json"),  # GetObject: an AccessDenied body
        lambda: storage.size("temp/gone.json"),  # HeadObject: the status alone
        lambda: storage.download_file("temp/gone.json", tmp_path / "x"),
    ):
        with pytest.raises(StorageDenied) as caught:
            read()
        assert isinstance(caught.value, PermissionDenied)  # still a denial to a CLI user
        said = str(caught.value)
        assert "s3://denied-bucket/temp/gone.json" in said and "missing" in said
    assert len(listless.denied) == 3
    assert not (tmp_path / "x").exists()
    # The stack commands' client names denied actions itself; a read still says "missing".
    stacks = Storage(Client("s3", proxied), "denied-bucket")
    for read in (lambda: stacks.get_text("temp/gone.json"), lambda: stacks.size("temp/gone.json")):
        with pytest.raises(StorageDenied, match="missing"):
            read()


@pytest.mark.slow
def test_a_checkpoint_aws_will_not_show_starts_the_job_over(stack, workers, looped_media, listless):
    """The checkpoint expired with temp/ while the job waited: the next worker, answered 403,
    started over and finished (it failed the attempt, and every retry after it, before)."""
    env = {"TRANSCRIBER_WINDOW_SECONDS": "30"}
    (job_id,) = submit(looped_media(3))
    store = job_store()
    first = workers.start(env=env)
    wait_for(lambda: store.get(job_id).checkpoint.windows >= 1, timeout=180, interval=0.05,
             what="a checkpoint")  # fmt: skip
    first.kill()
    first.wait(timeout=10)
    boto3.client("s3", region_name="us-east-1").delete_object(
        Bucket=stack["bucket"], Key=checkpoint_key(job_id)
    )
    second = workers.start("--once", "--idle-exit", "30",
                           env={**env, "AWS_ENDPOINT_URL_S3": listless.url})  # fmt: skip
    assert second.wait(timeout=240) == 0, workers.log(second)
    doc = store.get(job_id)
    log = workers.log(second)
    assert doc.status.value == "completed", (doc, log)
    assert any(path.endswith(f"{job_id}.json") for path in listless.denied), listless.denied
    assert "checkpoint object missing or unreadable" in log
    # Started over: the second attempt did its first window again and decoded everything.
    assert "checkpoint after window 1 " in log
    assert doc.checkpoint.decoded_seconds >= doc.result.duration + 10
    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store.close()


@pytest.mark.slow
def test_an_upload_aws_will_not_show_is_named_as_possibly_missing(stack, workers, listless):
    job_id = submit(EXAMPLE)[0]
    boto3.client("s3", region_name="us-east-1").delete_object(
        Bucket=stack["bucket"], Key=audio_key(job_id)
    )
    worker = workers.start("--once", env={"AWS_ENDPOINT_URL_S3": listless.url})
    assert worker.wait(timeout=90) == 0, workers.log(worker)
    store = job_store()
    doc = store.get(job_id)
    assert doc.status.value == "queued" and doc.message.startswith("will retry:"), doc
    assert f"uploads/{job_id}.mp3" in doc.message and "missing" in doc.message, doc.message
    store.close()
