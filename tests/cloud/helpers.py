"""Helpers for the cloud tests: run our CLI, read back with boto3 what our code created."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import boto3

from tests.conftest import run_cli

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
STACK = "t1"
BUCKET = f"transcriber-{STACK}-{ACCOUNT}-{REGION}"
QUEUE = f"transcriber-{STACK}-jobs"
DLQ = f"transcriber-{STACK}-jobs-dlq"
ROLE = f"transcriber-{STACK}-worker"
AMI = "ami-12c6146b"  # one of moto's built-in images


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, program="transcriber", env=env, timeout=120)


def cli_json(*args: str) -> dict[str, Any]:
    proc = cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cli_stdin(*args: str, stdin: str) -> subprocess.CompletedProcess:
    return run_cli(*args, program="transcriber", input=stdin, timeout=120)


def boto(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def tagged_arns(stack: str = STACK) -> list[str]:
    """Every resource the tagging API knows with our stack tag (minus terminated instances)."""
    found = boto("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "transcriber:stack", "Values": [stack]}]
    )["ResourceTagMappingList"]
    arns = [m["ResourceARN"] for m in found]
    live = []
    for arn in arns:
        if ":instance/" in arn:
            iid = arn.rsplit("/", 1)[1]
            inst = boto("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]
            if inst["Instances"][0]["State"]["Name"] in ("terminated", "shutting-down"):
                continue
        live.append(arn)
    return live
