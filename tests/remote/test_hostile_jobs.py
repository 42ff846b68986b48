"""Job documents and bucket objects are untrusted input to a worker: whoever can write the
task store, the queue or the bucket writes them. A real worker process meets hostile ones."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.remote.conftest import wait_for
from tests.remote.test_chaos import submit
from tests.remote.test_e2e import EXAMPLE, job_store, queue_depth

pytestmark = pytest.mark.slow


def hostile_pipeline(folder, marker) -> None:
    """A 'diarization pipeline' whose config.yaml has pyannote call torch.hub.load on a
    local hubconf.py: loading it runs that file, with the worker's credentials in reach."""
    folder.mkdir()
    folder.joinpath("hubconf.py").write_text(
        "import os, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(' '.join(sorted(os.environ)))\n"
        "def evil(**kwargs):\n    return None\n"
    )
    folder.joinpath("config.yaml").write_text(
        "pipeline:\n  name: torch.hub.load\n  params:\n"
        f"    repo_or_dir: {str(folder)!r}\n    model: evil\n    source: local\n"
        "    trust_repo: true\n"
    )


def test_hostile_documents_and_objects_are_refused(stack, workers, tmp_path):
    from transcriber_cli.aws.s3 import audio_key
    from transcriber_cli.aws.session import client

    marker = tmp_path / "code-ran"
    hostile_pipeline(tmp_path / "evil-pipeline", marker)
    short = tmp_path / "short.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(EXAMPLE), "-t", "12", str(short)],
                   check=True)  # fmt: skip
    store = job_store()
    (pipeline_job,) = submit(EXAMPLE)
    (model_job,) = submit(EXAMPLE, "--overwrite")
    (huge_job,) = submit(EXAMPLE, "--overwrite")
    (long_job,) = submit(EXAMPLE, "--overwrite")
    (good,) = submit(short)
    hostile = {
        pipeline_job: {"options.diarize": True, "options.diarization_model": str(marker.parent
                       / "evil-pipeline")},
        model_job: {"options.model": "someone/whisper-of-their-own"},
    }  # fmt: skip
    for job_id, update in hostile.items():
        store.jobs.update_one({"_id": job_id}, {"$set": update})
    # Anyone who can upload can put any object under a job's audio key.
    client("s3", "us-east-1").put_object(
        Bucket=stack["bucket"], Key=audio_key(huge_job), Body=os.urandom(3_000_000)
    )
    # 20 s at most: 33 s of conversation is too long, 12 s is fine; 1.4 MB is the upload cap.
    worker = workers.start("--idle-exit", "5", env={"TRANSCRIBER_MAX_DURATION_HOURS": "0.0056"})
    assert worker.wait(timeout=180) == 0, workers.log(worker)
    log = workers.log(worker)
    assert "Traceback" not in log
    assert not marker.exists(), "the hostile pipeline's code ran on the worker"

    docs = {j: store.jobs.find_one({"_id": j}) for j in hostile.keys() | {huge_job, long_job}}
    assert all(d["status"] == "failed" for d in docs.values()), docs
    assert "diarization pipeline" in docs[pipeline_job]["error"]
    assert "is not allowed on this worker" in docs[pipeline_job]["error"]
    assert "'someone/whisper-of-their-own' is not allowed" in docs[model_job]["error"]
    assert "the job's audio is 3 MB, more than" in docs[huge_job]["error"]
    assert "runs past the workers' 0:00:20 limit" in docs[long_job]["error"]
    # Refused at once (no retry helps) and out of the queue; the good job still runs.
    assert all(d["attempts"] == 1 for d in docs.values())
    assert store.get(good).status.value == "completed"
    wait_for(
        lambda: queue_depth(stack["queue_url"]) == {"visible": 0, "in_flight": 0},
        timeout=30,
        what="an empty queue",
    )
    store.close()
