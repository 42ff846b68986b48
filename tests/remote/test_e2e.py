"""``transcribe --remote`` end to end: real client and worker processes, moto, Mongo wire."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli as run

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "conversation.mp4"
FORMATS = ("txt", "json", "srt", "vtt", "tsv")


def s3_objects(bucket: str) -> dict[str, dict]:
    from transcriber_cli.aws import session as aws

    s3 = aws.client("s3", "us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.head_object(Bucket=bucket, Key=k) for k in keys}


def job_store():
    from transcriber_cli.config import load_settings
    from transcriber_cli.store.mongo import JobStore

    return JobStore.from_settings(load_settings())


def queue_depth(url: str) -> dict:
    from transcriber_cli.aws import session as aws

    attrs = aws.client("sqs", "us-east-1").get_queue_attributes(
        QueueUrl=url, AttributeNames=["All"]
    )["Attributes"]
    return {
        "visible": int(attrs["ApproximateNumberOfMessages"]),
        "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    }


def test_remote_matches_local_run(stack, workers, tmp_path, tiny_model):
    worker = workers.start("--idle-exit", "30")
    inputs = tmp_path / "in"
    inputs.mkdir()
    media = shutil.copy(EXAMPLE, inputs / "conversation.mp4")
    out = tmp_path / "remote"
    proc = run(str(media), "--remote", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr + workers.log(worker)
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["schema"] == "transcriber.result/1" and line["status"] == "done"
    job_id = line["job_id"]
    assert sorted(Path(o).name for o in line["outputs"]) == sorted(
        f"conversation.{e}" for e in FORMATS
    )
    assert line["language"] == "en" and line["duration"] == pytest.approx(33.2, abs=0.5)

    # The same files as a local run on the same audio: the worker decodes the client's mp3,
    # so the local run gets that mp3 (under the original name; ffmpeg probes by content).
    from transcriber_cli import media as media_mod

    local_in = tmp_path / "local_in"
    local_in.mkdir()
    media_mod.extract_mp3(media, local_in / "conversation.mp4")
    local = run(
        str(local_in / "conversation.mp4"),
        "-o",
        str(tmp_path / "local"),
        "-m",
        tiny_model,
        "--device",
        "cpu",
        "--no-diarize",
        "--json",
    )
    assert local.returncode == 0, local.stderr
    for ext in FORMATS:
        remote_text = (out / f"conversation.{ext}").read_text()
        assert remote_text == (tmp_path / "local" / f"conversation.{ext}").read_text(), ext
    text = (out / "conversation.txt").read_text().lower()
    for phrase in ("weekly planning meeting", "budget for the new project", "next week"):
        assert phrase in text

    # S3 holds only the mp3 (byte-identical to our extraction) and the outputs, all AES256.
    objects = s3_objects(stack["bucket"])
    from transcriber_cli.formats.registry import available_formats

    # The worker exports the default formats and those asked for (here the defaults); a
    # later -f of another opt-in format is rendered from the JSON on fetch.
    every = {f.extension for f in available_formats().values() if f.default}
    assert every == set(FORMATS)
    expected = {f"uploads/{job_id}.mp3"} | {f"output/{job_id}/conversation.{e}" for e in every}
    assert set(objects) == expected
    assert all(h["ServerSideEncryption"] == "AES256" for h in objects.values())
    assert (
        objects[f"uploads/{job_id}.mp3"]["ContentLength"]
        == (local_in / "conversation.mp4").stat().st_size
    )
    assert not any(k.endswith(".mp4") for k in objects)

    assert queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0}
    store = job_store()
    doc = store.get(job_id).public()
    assert doc["status"] == "completed" and doc["progress"] == 100
    assert doc["attempts"] == 1 and doc["error"] is None
    assert doc["source"]["name"] == "conversation.mp4"
    assert doc["source"]["duration"] == pytest.approx(33.2, abs=0.5)
    assert len(doc["source"]["sha256"]) == 64
    assert doc["audio"]["bytes"] == objects[f"uploads/{job_id}.mp3"]["ContentLength"]
    assert sorted(doc["outputs"]) == sorted(expected - {f"uploads/{job_id}.mp3"})
    local_json = json.loads((tmp_path / "local" / "conversation.json").read_text())
    assert "segments" not in doc  # the transcript lives once, in the S3 exports
    assert doc["result"]["duration"] == local_json["duration"]
    assert doc["result"]["language"] == "en"
    assert doc["cost"]["seconds"] > 0
    assert doc["checkpoint"]["seconds"] == pytest.approx(doc["source"]["duration"], abs=0.1)
    assert doc["checkpoint"]["windows"] == 1  # shorter than a window: one window, no seams
    assert doc["options"]["model"] == tiny_model and doc["options"]["diarize"] is False
    assert doc["worker"].startswith(
        Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    )
    workers_seen = store.list_workers()
    assert workers_seen and workers_seen[0].instance_id is None
    assert workers_seen[0].jobs == [] and workers_seen[0].pid

    # Identical content and options: reused, nothing new uploaded or queued.
    again = run(str(media), "--remote", "-o", str(tmp_path / "again"), "--json")
    assert again.returncode == 0, again.stderr
    line2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert line2["job_id"] == job_id and line2["reused"] is True
    assert set(s3_objects(stack["bucket"])) == expected
    assert len(store.list_jobs()) == 1
    assert (tmp_path / "again" / "conversation.txt").read_text() == (
        out / "conversation.txt"
    ).read_text()
    store.close()

    # The worker's log reached the stack's log group as JSON lines naming the job.
    from tests.remote.conftest import wait_for
    from transcriber_cli.aws import session as aws
    from transcriber_cli.aws.naming import log_group

    logs = aws.client("logs", "us-east-1")

    def shipped() -> list[dict]:
        found = logs.filter_log_events(logGroupName=log_group("transcriber"))["events"]
        return [json.loads(e["message"]) for e in found]

    events = wait_for(
        lambda: [e for e in shipped() if e.get("job_id") == job_id and e.get("outcome")],
        timeout=30,
        what="the job's log events in CloudWatch",
    )
    assert events[0]["outcome"] == "completed" and events[0]["worker"]
    assert stack["env"]["TRANSCRIBER_MONGODB_URL"] not in json.dumps(shipped())
