"""Names of a stack's resources, shared by ``infra``/``fleet`` and the remote client/worker.

Every resource is also tagged ``transcriber:stack = <stack>``; lookups go by tag where the
service supports it, names are the fallback.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

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


BUCKET_MAX = 63  # S3: 3-63 lowercase letters, digits, '-' and '.', no '-' at either end
_HASH_CHARS = 10


def bucket_name(stack: str, account_id: str, region: str) -> str:
    """``transcriber-<stack>-<account>-<region>``; when that passes 63 characters, its head
    and a hash of the whole stack/region/account. Cutting it short alone made two regions
    (us-west-1/2) share one name, and could leave a trailing '-'."""
    full = f"{prefix(stack)}-{account_id}-{region}"
    if len(full) <= BUCKET_MAX:
        return full
    digest = hashlib.sha256(f"{stack}/{region}/{account_id}".encode()).hexdigest()[:_HASH_CHARS]
    head = full[: BUCKET_MAX - _HASH_CHARS - 1].rstrip("-.")
    return f"{head}-{digest}"


def _named(suffix: str) -> Callable[[str], str]:
    """The name function for ``transcriber-<stack>-<suffix>``."""

    def name(stack: str) -> str:
        return f"{prefix(stack)}-{suffix}"

    return name


queue_name = _named("jobs")
dlq_name = _named("jobs-dlq")
role_name = _named("worker")  # also the instance profile's name
security_group_name = _named("worker")
launch_template_name = _named("worker")
asg_name = _named("workers")
alarm_topic_name = _named("alarms")


def ssm_prefix(stack: str) -> str:
    return f"/transcriber/{stack}/"


def ssm_parameter(stack: str, name: str) -> str:
    """``mongodb_url`` -> ``/transcriber/<stack>/mongodb_url``."""
    return ssm_prefix(stack) + name


def log_group(stack: str) -> str:
    return f"/transcriber/{stack}/worker"


def tags(stack: str) -> dict[str, str]:
    return {TAG_KEY: stack, "project": PROJECT_TAG}
