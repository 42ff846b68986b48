"""Write docs/runbook.md: the operator's session from an empty account to a finished job and
back to zero, every command with the output it really printed.

    python scripts/runbook.py            # rewrites docs/runbook.md

The commands run against a moto server and the MongoDB wire test server (no AWS account
here), so ids, times and the account number are moto's. Two things stand in for AWS and are
not part of the runbook: the bucket policy is removed after ``infra up`` (moto ignores its
Conditions and would deny every object call), and a local ``transcriber worker`` process
stands in for the Spot instance ``fleet scale 1`` would start (moto starts no machine).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = REPO / "docs" / "runbook.md"
STACK = "demo"


class Session:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def say(self, text: str) -> None:
        self.parts.append(text.strip() + "\n")

    def run(self, *args: str, stdin: str | None = None, shown: str | None = None) -> str:
        program, *rest = args
        proc = subprocess.run(
            [str(BIN / program), *rest],
            capture_output=True,
            text=True,
            input=stdin,
            cwd=REPO,
            timeout=600,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        command = shown or " ".join(shlex.quote(a) for a in args)
        output = (proc.stdout + proc.stderr).rstrip()
        self.parts.append(f"```console\n$ {command}\n{output}\n```\n")
        return proc.stdout


def main() -> None:
    sys.path[:0] = [str(REPO / "bench"), str(REPO)]
    from common import free_port, wait_for_moto

    moto_port, mongo_port = free_port(), free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wire = subprocess.Popen([sys.executable, str(REPO / "tests" / "mongo_wire.py"), "--port",
                             str(mongo_port)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    worker: subprocess.Popen | None = None
    try:
        assert wire.stdout and wire.stdout.readline().startswith("ready")
        endpoint = f"http://127.0.0.1:{moto_port}"
        wait_for_moto(endpoint)
        tmp = Path(tempfile.mkdtemp(prefix="runbook-"))
        for name in [n for n in os.environ if n.startswith("TRANSCRIBER_")]:
            del os.environ[name]
        os.environ.update({
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "HF_HUB_OFFLINE": "1", "TRANSCRIBER_CONFIG": str(tmp / "config.toml"),
            "TRANSCRIBER_STATE_DIR": str(tmp / "state"), "TRANSCRIBER_STACK": STACK,
            "COLUMNS": "100", "TRANSCRIBER_LOAD_PLUGINS": "",
        })  # fmt: skip
        import boto3

        s = Session()
        s.say(RUNBOOK_INTRO)
        s.say("## 1. The stack: bucket, queues, role, secrets, alarms\n\n"
              "`infra up` creates what the fleet needs and prints what it did; it is safe "
              "to run again (a second run changes nothing).")  # fmt: skip
        s.run("transcriber", "infra", "up", "--alarm-email", "ops@example.com")
        boto3.client("s3").delete_bucket_policy(
            Bucket=f"transcriber-{STACK}-123456789012-us-east-1"
        )  # moto only: see the module docstring
        s.say("The MongoDB URL (Atlas or your own) goes to SSM as a SecureString, read from "
              "stdin so it never lands in the shell history or `ps`:")  # fmt: skip
        s.run("transcriber", "infra", "secrets", "set", "mongodb_url",
              stdin=f"mongodb://127.0.0.1:{mongo_port}/",
              shown="transcriber infra secrets set mongodb_url < mongodb-url.txt")  # fmt: skip
        s.run("transcriber", "infra", "status")
        s.say("Two drifts here are moto's, not yours: `policy` is the bucket policy this "
              "session removed (see the top), and the alarm e-mail shows as drift until the "
              "subscription is confirmed, which moto never does. On AWS, confirm the e-mail "
              "and the line reads `ok`.")  # fmt: skip
        s.say("## 2. Models the workers use, from the stack's bucket\n\n"
              "On AWS use the models you run (`-m large-v3-turbo`, the community-1 "
              "pipeline with `HF_TOKEN` set once on this machine); here the bundled "
              "tiny.en and a small pipeline. Workers never need the hub or a token.")  # fmt: skip
        from tests.diarize.random_pipeline import build_random_pipeline

        pipeline = build_random_pipeline(tmp / "pipeline", size="tiny")
        shown = "transcriber models push -m tiny.en --diarization-model ./my-pipeline"
        s.run("transcriber", "models", "push", "-m", "tiny.en", "--diarization-model",
              str(pipeline), shown=shown)  # fmt: skip
        s.say("## 3. The fleet: launch template and Spot group, scaled on the queue\n\n"
              "`fleet up` ships the exact version you run (its wheel and pinned "
              "dependencies, hashed) and starts at zero instances.")  # fmt: skip
        s.run("transcriber", "fleet", "up", "--ami", "ami-12c6146b",
              shown="transcriber fleet up")  # fmt: skip
        s.say("## 4. A job\n\n"
              "The queue's alarm scales the group out when a job waits; `fleet scale 1` (one "
              "GPU: capacity is counted in GPUs) does it at once. (Here a local worker process "
              "stands in for the instance.)")  # fmt: skip
        s.run("transcriber", "fleet", "scale", "1")
        env = {**os.environ, "TRANSCRIBER_MODEL": "tiny.en", "TRANSCRIBER_DEVICE": "cpu",
               "TRANSCRIBER_IMDS_URL": "", "TRANSCRIBER_WORKER_WAIT_SECONDS": "1",
               "TRANSCRIBER_DIARIZE": "false"}  # fmt: skip
        worker = subprocess.Popen([str(BIN / "transcriber"), "worker", "--gpus", "all",
                                   "--idle-exit", "20"],
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
        shown = "transcribe examples/conversation.mp4 --remote --no-diarize -o out --json"
        s.run("transcribe", "examples/conversation.mp4", "--remote", "--no-diarize", "-o",
              str(tmp / "out"), "--json", shown=shown)  # fmt: skip
        s.say("On a terminal it shows a progress bar per file instead; without `--json` and "
              "without a terminal it prints only errors. The files are in `out/`.")  # fmt: skip
        job = subprocess.run([str(BIN / "transcriber"), "jobs", "list", "--json"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        import json

        job_id = json.loads(job.splitlines()[0])["job_id"]
        s.run("transcriber", "jobs", "list")
        s.run("transcriber", "jobs", "status", job_id)
        s.run("transcriber", "fleet", "status")
        s.say("## 5. Back to zero\n\n"
              "The scale-in alarm does this after the queue stays empty; `fleet scale 0` "
              "does it now. `fleet down --destroy` and `infra down` remove everything "
              "(`infra down --keep-data` keeps the bucket and its objects).")  # fmt: skip
        s.run("transcriber", "fleet", "scale", "0")
        worker.wait(timeout=60)
        s.run("transcriber", "fleet", "down", "--destroy")
        s.run("transcriber", "infra", "down", "--yes")
        OUT.write_text("\n".join(s.parts))
        print(f"wrote {OUT}")
    finally:
        if worker and worker.poll() is None:
            worker.kill()
        moto.terminate()
        wire.terminate()
        time.sleep(0.2)


RUNBOOK_INTRO = """# Operator runbook: from an empty account to a finished job and back to zero

Generated by `python scripts/runbook.py`: every command below ran, and its output is what it
printed. It ran against a moto server and a MongoDB test server (no AWS account here), so the
account (123456789012), ids and times are moto's; two stand-ins are not shown: the bucket
policy is removed after `infra up` (moto ignores its Conditions and would deny every object
call), and a local `transcriber worker` plays the Spot instance that `fleet scale 1` starts
on AWS. Everything takes `--stack NAME` (here `TRANSCRIBER_STACK=demo`), `--region` and
`--profile`; add `--json` for the machine-readable form and `--dry-run` to `up` commands to
see a plan first. Costs, alarms and Spot behaviour: [ops runbook](operations.md); remote mode:
[remote.md](remote.md). The same session as a script: `examples/ops-session.sh` (one function
a step; `tests/test_examples.py` runs it against moto with the same two stand-ins).
"""


if __name__ == "__main__":
    main()
