"""Cloud-init user data: install the stack's worker release and run ``transcriber worker``.

Our code comes from the stack's bucket (``cloud/artifacts.py``), never from a package index
by name: the wheel and the pinned constraints are fetched with the AWS CLI and checked
against the SHA-256 written here, then installed; only the pinned dependencies come from
the index. Only non-secret settings go here (user data is readable by anyone who can
describe the instance); the worker reads the MongoDB URL and HF token from SSM.
"""

from __future__ import annotations

import base64
import shlex

from transcriber_cli.cloud.artifacts import Release

SERVICE = "transcriber-worker"

_TEMPLATE = """#!/bin/bash
# transcriber worker bootstrap (stack {stack}, version {version})
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# The DLAMI may still run unattended upgrades at boot: wait for the apt lock.
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q ffmpeg python3-venv
id -u transcriber >/dev/null 2>&1 || \
  useradd --system --create-home --home-dir /var/lib/transcriber transcriber
python3 -m venv /opt/transcriber
/opt/transcriber/bin/pip install -q --upgrade pip
# Our wheel and its pinned dependencies from the stack's bucket, hashes checked.
install -d /opt/transcriber/release
cd /opt/transcriber/release
aws s3 cp --only-show-errors --region {region} s3://{bucket}/{wheel_key} {wheel_name}
aws s3 cp --only-show-errors --region {region} s3://{bucket}/{constraints_key} constraints.txt
cat > SHA256SUMS <<'SUMS'
{wheel_sha256}  {wheel_name}
{constraints_sha256}  constraints.txt
SUMS
sha256sum --check --strict SHA256SUMS
/opt/transcriber/bin/pip install -q --constraint constraints.txt ./{wheel_name}
cd /
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
ExecStart=/opt/transcriber/bin/transcriber worker
Restart=always
RestartSec=10
# Spot interruption: systemd sends SIGTERM; the worker returns its job to the queue.
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


def worker_env(stack: str, region: str, bucket: str, queue_url: str) -> dict[str, str]:
    return {
        "TRANSCRIBER_STACK": stack,
        "TRANSCRIBER_REGION": region,
        "AWS_REGION": region,
        "TRANSCRIBER_BUCKET": bucket,
        "TRANSCRIBER_QUEUE_URL": queue_url,
        "HF_HOME": "/var/lib/transcriber/hf",
    }


def render(stack: str, region: str, bucket: str, queue_url: str, release: Release) -> str:
    env = worker_env(stack, region, bucket, queue_url)
    return _TEMPLATE.format(
        stack=stack,
        version=release.version,
        region=shlex.quote(region),
        bucket=bucket,
        wheel_key=shlex.quote(release.wheel.key),
        wheel_name=shlex.quote(release.wheel.name),
        wheel_sha256=release.wheel.sha256,
        constraints_key=shlex.quote(release.constraints.key),
        constraints_sha256=release.constraints.sha256,
        env="\n".join(f"{k}={v}" for k, v in env.items()),
        service=SERVICE,
    )


def encode(script: str) -> str:
    return base64.b64encode(script.encode()).decode()
