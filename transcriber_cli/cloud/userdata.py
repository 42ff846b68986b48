"""Cloud-init user data: boot the stack's worker release and run ``transcriber worker``.

Our code comes from the stack's bucket (``cloud/artifacts.py``), never from a package index
by name. The user data writes the boot script (``cloud/boot_script.py``) and its config (the
release's and the models' keys and SHA-256), installs the pinned boto3 it needs, and runs
it: it fetches, checks and installs the release, fetches and checks the models, and reports
each step to ``boot/{instance}.json``. Only the pinned dependencies come from the index.
Only non-secret settings go here (user data is readable by anyone who can describe the
instance); the worker reads the MongoDB URL and HF token from SSM.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from transcriber_cli.cloud.artifacts import ModelsRelease, Release
from transcriber_cli.errors import UsageError

ROOT = "/opt/transcriber"

SERVICE = "transcriber-worker"

_TEMPLATE = """#!/bin/bash
# transcriber worker bootstrap (stack {stack}, version {version})
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
boot_started=$(date +%s)
# The DLAMI may still run unattended upgrades at boot: wait for the apt lock.
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q ffmpeg python3-venv
id -u transcriber >/dev/null 2>&1 || \
  useradd --system --create-home --home-dir /var/lib/transcriber transcriber
packages_done=$(date +%s)
python3 -m venv /opt/transcriber
/opt/transcriber/bin/pip install -q --upgrade pip
/opt/transcriber/bin/pip install -q boto3=={boto3_version}
# The steps before Python could report, timed here and reported by the boot script.
printf '{{"packages": %d, "python": %d}}\\n' $((packages_done - boot_started)) \\
  $(($(date +%s) - packages_done)) > /opt/transcriber/boot-times.json
cat > /opt/transcriber/boot.json <<'BOOT'
{boot_config}
BOOT
cat > /opt/transcriber/boot.py <<'BOOTPY'
{boot_script}
BOOTPY
# Release and models from the stack's bucket, every file checked against its SHA-256.
/opt/transcriber/bin/python /opt/transcriber/boot.py /opt/transcriber/boot.json
touch /opt/transcriber/models.env
install -d -o transcriber -g transcriber /var/log/transcriber
cat > /etc/transcriber.env <<'ENV'
{env}
ENV
cat > /etc/systemd/system/{service}.service <<'UNIT'
[Unit]
Description=transcriber worker (stack {stack})
After=network-online.target
Wants=network-online.target

[Service]
User=transcriber
EnvironmentFile=/etc/transcriber.env
EnvironmentFile=/opt/transcriber/models.env
# One consumer per GPU of the instance (the worker's default), each with its own copy of the
# models. No --gpus flag: a rollback (fleet up --version 0.1.0) installs a worker without it.
ExecStart=/opt/transcriber/bin/transcriber worker
Restart=always
RestartSec=10
# Spot interruption: systemd sends SIGTERM; the worker returns its jobs to the queue.
KillSignal=SIGTERM
TimeoutStopSec=110
StandardOutput=append:/var/log/transcriber/worker.log
StandardError=append:/var/log/transcriber/worker.log

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now {service}.service
"""


# The operator's allowlists (config.py worker_models / worker_diarization_models).
ALLOW_MODELS = "TRANSCRIBER_WORKER_MODELS"
ALLOW_DIARIZATION_MODELS = "TRANSCRIBER_WORKER_DIARIZATION_MODELS"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENV_BLOCK = re.compile(r"<<'ENV'\n(.*?)\nENV\n", re.S)


def worker_env(
    stack: str, region: str, bucket: str, queue_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    return {
        "TRANSCRIBER_STACK": stack,
        "TRANSCRIBER_REGION": region,
        "AWS_REGION": region,
        "TRANSCRIBER_BUCKET": bucket,
        "TRANSCRIBER_QUEUE_URL": queue_url,
        "HF_HOME": "/var/lib/transcriber/hf",
        **(extra or {}),
    }


def env_line(key: str, value: str) -> str:
    """``KEY='value'``: one line that both bash and systemd's EnvironmentFile read as the
    literal value. A control character (a newline could end the heredoc and run the rest
    as the boot script) is refused, never escaped."""
    if CONTROL.search(value):
        raise UsageError(f"{key} for the workers contains a control character: {value!r}")
    return f"{key}={shlex.quote(value)}"


def env_of(script: str) -> dict[str, str]:
    """The worker environment a rendered user data writes (``fleet update`` keeps it)."""
    found = _ENV_BLOCK.search(script)
    if found is None:
        return {}
    env = {}
    for line in found.group(1).splitlines():
        key, _, quoted = line.partition("=")
        env[key] = "".join(shlex.split(quoted)) if quoted else ""
    return env


def boot_config(
    region: str, bucket: str, release: Release, models: ModelsRelease | None, root: str = ROOT
) -> dict[str, object]:
    """What the boot script fetches and checks (see ``boot_script.py``)."""
    return {
        "region": region,
        "bucket": bucket,
        "root": root,
        "release": release.as_dict(),
        "models": models.as_dict() if models else None,
    }


def boot_script() -> str:
    return (Path(__file__).with_name("boot_script.py")).read_text()


def render(
    stack: str,
    region: str,
    bucket: str,
    queue_url: str,
    release: Release,
    models: ModelsRelease | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> str:
    env = worker_env(stack, region, bucket, queue_url, extra_env)
    return _TEMPLATE.format(
        stack=stack,
        version=shlex.quote(release.version),
        boto3_version=metadata.version("boto3"),
        boot_config=json.dumps(boot_config(region, bucket, release, models), indent=1),
        boot_script=boot_script(),
        env="\n".join(env_line(k, v) for k, v in env.items()),
        service=SERVICE,
    )


def encode(script: str) -> str:
    return base64.b64encode(script.encode()).decode()
