"""SSM SecureString parameters under ``/transcriber/<stack>/`` (values never printed)."""

from __future__ import annotations

import re
from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.secrets import SECRET_NAMES
from transcriber_cli.cloud.stack import Stack
from transcriber_cli.errors import UsageError

_NAME = re.compile(r"[a-z0-9_]{1,64}")


def secret_names() -> tuple[str, ...]:
    """The stack's secrets ``infra secrets set`` stores: ours, then those installed plugins
    read on workers (``register_secrets``; the summary plugin's API key, say), which had
    to be written with ``aws ssm put-parameter --value`` and so sat in a process's
    arguments."""
    from transcriber_cli.plugins import get_plugin_manager

    names = list(SECRET_NAMES)

    def register(name: str) -> None:
        if isinstance(name, str) and _NAME.fullmatch(name) and name not in names:
            names.append(name)

    get_plugin_manager().hook.register_secrets(register=register)
    return tuple(names)


def check_settable_name(name: str) -> str:
    names = secret_names()
    if name not in names:
        raise UsageError(f"unknown secret {name!r}: use one of {', '.join(names)}")
    return name


def set_secret(stack: Stack, name: str, value: str) -> dict[str, Any]:
    """Store ``value`` as a SecureString; returns the parameter name and version, not the value."""
    check_settable_name(name)
    value = value.strip()
    if not value:
        raise UsageError(f"empty value for {name}: pipe the secret on stdin")
    ssm = stack.client("ssm")
    parameter = naming.ssm_parameter(stack.name, name)
    resp = ssm.put_parameter(
        Name=parameter,
        Value=value,
        Type="SecureString",  # encrypted with the AWS-managed aws/ssm key
        Overwrite=True,
        Description=f"transcriber {name} for stack {stack.name}",
    )
    # Tags cannot be passed together with Overwrite, so they are added separately.
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=parameter, Tags=stack.tag_list())
    return {"name": name, "parameter": parameter, "version": resp.get("Version")}


def list_secrets(stack: Stack) -> list[dict[str, Any]]:
    """Names, types and versions of the stack's parameters (never their values)."""
    ssm = stack.client("ssm")
    params = ssm.paginate(
        "get_parameters_by_path",
        "Parameters",
        Path=naming.ssm_prefix(stack.name),
        Recursive=True,
        WithDecryption=False,
    )
    return [
        {"parameter": p["Name"], "type": p["Type"], "version": p.get("Version")} for p in params
    ]


def delete_secrets(stack: Stack) -> list[str]:
    names = [p["parameter"] for p in list_secrets(stack)]
    ssm = stack.client("ssm")
    for start in range(0, len(names), 10):  # DeleteParameters takes at most 10 names
        ssm.delete_parameters(Names=names[start : start + 10])
    return names
