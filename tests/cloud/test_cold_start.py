"""Cold start: a worker booted the way the user data boots it, in a clean virtual environment
on this machine, from the stack's bucket in moto (our wheel and a tiny model, every file
checked), then its first heartbeat and a completed job.

What differs from an instance, and why: the dependencies come from this test environment
(a ``.pth`` line in the clean venv) instead of the index, and pip runs with ``--no-index`` to
prove nothing else is fetched; the boot root is a temporary directory, not /opt/transcriber.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import pytest

from tests.cloud.helpers import AMI, BUCKET, STACK, boto, cli, cli_json, cli_stdin
from tests.conftest import run_cli
from tests.diarize.random_pipeline import build_random_pipeline

pytestmark = pytest.mark.slow
LT = f"transcriber-{STACK}-worker"


def user_data() -> str:
    data = boto("ec2").describe_launch_template_versions(
        LaunchTemplateName=LT, Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    return base64.b64decode(data["UserData"]).decode()


def heredoc(script: str, marker: str) -> str:
    return script.split(f"<<'{marker}'\n", 1)[1].split(f"\n{marker}\n", 1)[0]


def outside() -> dict[str, str]:
    """This environment without PYTHONPATH: a checkout on it (a worktree under test) would
    be importable from the clean venv, which must see only the wheel from the bucket."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def clean_venv(where: Path) -> Path:
    """A new venv whose only view of this environment's packages is one .pth line: what the
    index would have provided on an instance. Our package is not among what it sees."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    assert not importable(python), "the clean venv must not see our package before the boot"
    return python


def importable(python: Path) -> str | None:
    """Where ``python`` imports our package from (run outside the checkout), or None."""
    proc = subprocess.run(
        [str(python), "-c", "import transcriber_cli; print(transcriber_cli.__file__)"],
        capture_output=True, text=True, cwd=python.parent, env=outside(),
    )  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else None


def boot(python: Path, script: str, root: Path) -> subprocess.CompletedProcess:
    config = json.loads(heredoc(script, "BOOT"))
    config["root"] = str(root)
    config["imds_url"] = "http://127.0.0.1:9"  # nothing there: the host name names the report
    (root / "boot.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "boot.json").write_text(json.dumps(config))
    (root / "boot.py").write_text(heredoc(script, "BOOTPY"))
    return subprocess.run(
        [str(python), str(root / "boot.py"), str(root / "boot.json")],
        capture_output=True,
        text=True,
        env={**outside(), "PIP_NO_INDEX": "1"},
        timeout=300,
        cwd=root,
    )


def shell_times(script: str, root: Path) -> None:
    """Run the user data's own line that times the steps before Python (apt, the venv), as
    if apt took 41 s, writing where the boot script reads it."""
    line = next(i for i, text in enumerate(script.splitlines()) if text.startswith("printf"))
    command = "\n".join(script.splitlines()[line : line + 2])
    command = command.replace("/opt/transcriber/boot-times.json", str(root / "boot-times.json"))
    root.mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    subprocess.run(["bash", "-c", f"boot_started={now - 50}; packages_done={now - 9}\n{command}"],
                   check=True)  # fmt: skip


def boot_report() -> dict:
    import socket

    body = boto("s3").get_object(Bucket=BUCKET, Key=f"boot/{socket.gethostname()}.json")["Body"]
    return json.loads(body.read())


def test_a_worker_boots_from_the_stack_and_completes_a_job(
    aws, mongo_wire, tiny_model, release_wheel, tmp_path
):
    cli_json("infra", "up", "--stack", STACK)
    # moto ignores the Conditions of the bucket policy and then denies every object call.
    boto("s3").delete_bucket_policy(Bucket=BUCKET)
    database = f"c{uuid.uuid4().hex[:10]}"
    secret = cli_stdin("infra", "secrets", "set", "mongodb_url", "--stack", STACK,
                       stdin=mongo_wire)  # fmt: skip
    assert secret.returncode == 0, secret.stderr
    pipeline = build_random_pipeline(tmp_path / "pipeline", size="tiny")
    pushed = cli_json("models", "push", "--stack", STACK, "-m", "tiny.en",
                      "--diarization-model", str(pipeline))  # fmt: skip
    assert pushed["whisper"] == "tiny.en" and pushed["manifest"] == "models/SHA256SUMS"
    up = cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--wheel", release_wheel)
    assert up["models"]["sha256"] == pushed["sha256"]
    script = user_data()
    assert len(script.encode()) < 16 * 1024  # EC2's limit for user data

    python = clean_venv(tmp_path / "venv")
    root = tmp_path / "opt"
    shell_times(script, root)
    booted = boot(python, script, root)
    assert booted.returncode == 0, booted.stderr
    report = boot_report()
    assert report["status"] == "installed" and report["error"] is None
    steps = ["packages", "python", "release", "install", "models"]
    assert [s["name"] for s in report["steps"]] == steps
    assert report["steps"][0]["seconds"] == 41  # what the shell step measured
    shown = cli("fleet", "status", "--stack", STACK)
    assert "installed in" in shown.stdout and "models" in shown.stdout
    # A second boot on the same disk (an image baked from this one) downloads nothing.
    again = boot(python, script, root)
    assert again.returncode == 0, again.stderr
    files = 2 + len((root / "models" / "SHA256SUMS").read_text().splitlines()) + 1
    assert boot_report()["reused"] == files  # release (2), every model file, the manifest
    where = importable(python)
    assert where and where.startswith(str(tmp_path / "venv"))  # the wheel from the bucket
    models_env = dict(line.split("=", 1) for line in (root / "models.env").read_text().splitlines())
    assert models_env["TRANSCRIBER_MODEL"] == str(root / "models" / "whisper" / "tiny.en")
    assert (Path(models_env["TRANSCRIBER_MODEL"]) / "model.bin").is_file()

    # The worker as systemd starts it: the user data's environment plus the models' one;
    # the MongoDB URL comes from SSM, the model from the bucket, nothing from the hub.
    from transcriber_cli.cloud.userdata import env_of

    env = env_of(script)  # each value shell-quoted, as systemd and bash read it
    assert env["TRANSCRIBER_STACK"] == STACK and env["TRANSCRIBER_BUCKET"] == BUCKET
    env |= models_env | {
        "TRANSCRIBER_MONGODB_DATABASE": database,
        "TRANSCRIBER_IMDS_URL": "",
        "TRANSCRIBER_WORKER_WAIT_SECONDS": "1",
        "TRANSCRIBER_DEVICE": "cpu",
        "TRANSCRIBER_WORKER_TELEMETRY": "false",
        "HF_HOME": str(tmp_path / "hf"),
        # The test environment's plugin is visible through the .pth line but not importable.
        "TRANSCRIBER_LOAD_PLUGINS": "",
    }
    # Its command line is the unit's: no --gpus (every GPU is the default; the flag would stop
    # a rolled-back 0.1.0 worker from starting), so here the CPU's one consumer.
    (unit,) = [x for x in script.splitlines() if x.startswith("ExecStart=")]
    program, *args = shlex.split(unit.removeprefix("ExecStart="))
    assert program == "/opt/transcriber/bin/transcriber" and args == ["worker"]
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        worker = subprocess.Popen(
            [str(python.parent / "transcriber"), *args, "--once", "--idle-exit", "60"],
            env={**outside(), **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    client_env = {
        "TRANSCRIBER_STACK": STACK,
        "TRANSCRIBER_MONGODB_DATABASE": database,
        "TRANSCRIBER_DIARIZE": "false",
    }
    example = Path(__file__).resolve().parents[2] / "examples" / "conversation.mp4"
    try:
        done = run_cli(str(example), "--remote", "--json", "-o", str(tmp_path / "out"),
                       env=client_env, timeout=150)  # fmt: skip
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    out = log.read_text()
    assert done.returncode == 0, done.stderr + out
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["status"] == "done"
    assert "weekly planning meeting" in (tmp_path / "out" / "conversation.txt").read_text().lower()
    assert worker.returncode == 0 and "completed job" in out
    assert "on cpu#0 polling" in out
    # The worker closed its machine's boot report with its first heartbeat.
    closed = boot_report()
    assert closed["status"] == "running" and closed["steps"][-1]["name"] == "first heartbeat"
    assert "worker running after" in cli("fleet", "status", "--stack", STACK).stdout


def test_a_replaced_object_stops_the_boot(aws, release_wheel, tmp_path):
    cli_json("infra", "up", "--stack", STACK)
    boto("s3").delete_bucket_policy(Bucket=BUCKET)
    up = cli_json("fleet", "up", "--stack", STACK, "--ami", AMI, "--wheel", release_wheel)
    wheel_key = up["release"]["wheel"]["key"]
    boto("s3").put_object(Bucket=BUCKET, Key=wheel_key, Body=b"a stranger's package",
                          ServerSideEncryption="AES256")  # fmt: skip
    python = clean_venv(tmp_path / "venv")
    booted = boot(python, user_data(), tmp_path / "opt")
    assert booted.returncode == 1
    assert "does not match its SHA-256; refused" in booted.stderr
    assert "Traceback" not in booted.stderr
    report = boot_report()
    assert report["status"] == "failed" and "SHA-256" in report["error"]
    assert report["step"] == "release"
    assert importable(python) is None  # nothing was installed
    status = cli("fleet", "status", "--stack", STACK)
    assert status.returncode == 0, status.stderr
    assert "boot failed on" in status.stdout and "at release: s3://" in status.stdout
    shown = cli_json("fleet", "status", "--stack", STACK)["boots"][0]
    assert shown["status"] == "failed" and shown["steps"] == []
