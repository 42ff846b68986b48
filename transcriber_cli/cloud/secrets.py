"""SSM SecureString parameters under ``/transcriber/<stack>/`` (values never printed)."""

from __future__ import annotations

from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.secrets import check_secret_name
from transcriber_cli.cloud.stack import Stack
from transcriber_cli.errors import UsageError


def set_secret(stack: Stack, name: str, value: str) -> dict[str, Any]:
    """Store ``value`` as a SecureString; returns the parameter name and version, not the value."""
    check_secret_name(name)
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
