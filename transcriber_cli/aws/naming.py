"""Names of a stack's resources, shared by ``infra``/``fleet`` and the remote client/worker.

Every resource is also tagged ``transcriber:stack = <stack>``; lookups go by tag where the
service supports it, names are the fallback.
"""

from __future__ import annotations

import re

TAG_KEY = "transcriber:stack"
PROJECT_TAG = "transcriber"
_VALID = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def check_stack(stack: str) -> str:
    from transcriber_cli.errors import UsageError

    if not _VALID.match(stack):
        raise UsageError(
            f"invalid stack name {stack!r}: use 1-31 lowercase letters, digits or '-', "
            "starting with a letter"
        )
    return stack


def prefix(stack: str) -> str:
    return f"transcriber-{stack}"


def bucket_name(stack: str, account_id: str, region: str) -> str:
    # Bucket names are global: the account and region make them unique.
    return f"{prefix(stack)}-{account_id}-{region}"[:63]


def queue_name(stack: str) -> str:
    return f"{prefix(stack)}-jobs"


def dlq_name(stack: str) -> str:
    return f"{prefix(stack)}-jobs-dlq"


def ssm_prefix(stack: str) -> str:
    return f"/transcriber/{stack}/"


def ssm_parameter(stack: str, name: str) -> str:
    """``mongodb_url`` -> ``/transcriber/<stack>/mongodb_url``."""
    return ssm_prefix(stack) + name


def role_name(stack: str) -> str:
    return f"{prefix(stack)}-worker"


def log_group(stack: str) -> str:
    return f"/transcriber/{stack}/worker"


def security_group_name(stack: str) -> str:
    return f"{prefix(stack)}-worker"


def launch_template_name(stack: str) -> str:
    return f"{prefix(stack)}-worker"


def asg_name(stack: str) -> str:
    return f"{prefix(stack)}-workers"


def alarm_topic_name(stack: str) -> str:
    return f"{prefix(stack)}-alarms"


def tags(stack: str) -> dict[str, str]:
    return {TAG_KEY: stack, "project": PROJECT_TAG}
