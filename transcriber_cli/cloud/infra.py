"""``infra up|status|down``: the stack's resources, planned, applied, described, removed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transcriber_cli.aws.errors import aws_errors
from transcriber_cli.cloud.iam import WorkerRole
from transcriber_cli.cloud.monitoring import (
    AlarmTopic,
    EbsEncryptionDefault,
    LogGroup,
    ops_alarms,
)
from transcriber_cli.cloud.network import SecurityGroup
from transcriber_cli.cloud.plan import (
    Action,
    PlanResult,
    Resource,
    apply_one,
    json_header,
    plan_one,
)
from transcriber_cli.cloud.queues import Queue
from transcriber_cli.cloud.stack import Stack
from transcriber_cli.cloud.storage import DEFAULT_UPLOADS_EXPIRY_DAYS, Bucket

SCHEMA = "transcriber.infra/1"


@dataclass
class InfraOptions:
    uploads_days: int = DEFAULT_UPLOADS_EXPIRY_DAYS
    admin_cidr: str | None = None
    alarm_email: str | None = None


def resources(stack: Stack, options: InfraOptions | None = None) -> list[Resource]:
    """In creation order (the DLQ before the queue that redrives to it)."""
    options = options or InfraOptions()
    topic = AlarmTopic(stack, options.alarm_email)
    return [
        Bucket(stack, options.uploads_days),
        Queue(stack, dead_letter=True),
        Queue(stack),
        WorkerRole(stack),
        SecurityGroup(stack, options.admin_cidr),
        LogGroup(stack),
        topic,
        *ops_alarms(stack, topic.arn),
        EbsEncryptionDefault(stack),
    ]


class InfraResult(PlanResult):
    schema = SCHEMA


def up(stack: Stack, options: InfraOptions, dry_run: bool = False) -> InfraResult:
    from transcriber_cli.cloud.fleet import summary

    if options.uploads_days < 1:
        from transcriber_cli.errors import UsageError

        raise UsageError("--uploads-expiry-days must be at least 1")
    with aws_errors():
        actions = [apply_one(r, dry_run) for r in resources(stack, options)]
        details = {"summary": summary(stack)} if not dry_run else {}
    return InfraResult("up", stack, actions, dry_run, details)


@dataclass
class ResourceStatus:
    kind: str
    name: str
    exists: bool
    settings: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.kind, "name": self.name, "exists": self.exists,
                "settings": self.settings}  # fmt: skip


@dataclass
class InfraStatus:
    stack: Stack
    resources: list[ResourceStatus]
    secrets: list[dict[str, Any]]

    @property
    def complete(self) -> bool:
        return all(r.exists for r in self.resources)

    def as_dict(self) -> dict[str, Any]:
        return {
            **json_header(SCHEMA, "status", self.stack),
            "account": self.stack.account,
            "complete": self.complete,
            "resources": [r.as_dict() for r in self.resources],
            "secrets": self.secrets,
        }


def status(stack: Stack) -> InfraStatus:
    from transcriber_cli.cloud.secrets import list_secrets

    with aws_errors():
        found = []
        for resource in resources(stack):
            action, current = plan_one(resource)
            settings = dict(current or {})
            if action.action == "update":
                settings["drift"] = action.changes
            found.append(
                ResourceStatus(resource.kind, resource.name, current is not None, settings)
            )
        return InfraStatus(stack, found, list_secrets(stack))


def down(stack: Stack, keep_data: bool = False) -> InfraResult:
    """Delete what the stack created (fleet first), newest first; skip what is not tagged ours."""
    from transcriber_cli.cloud import fleet
    from transcriber_cli.cloud.secrets import delete_secrets

    with aws_errors():
        actions = fleet.destroy(stack)
        deleted_objects = 0
        for resource in reversed(resources(stack)):
            if isinstance(resource, EbsEncryptionDefault):
                actions.append(Action(resource.kind, resource.name, "keep",
                                      note="account-wide setting left enabled"))  # fmt: skip
                continue
            current = resource.current()
            if current is None:
                continue
            if not resource.tagged(current):
                actions.append(Action(resource.kind, resource.name, "keep",
                                      note="not tagged with this stack; left alone"))  # fmt: skip
                continue
            if isinstance(resource, Bucket):
                if keep_data:
                    actions.append(Action(resource.kind, resource.name, "keep", note="--keep-data"))
                    continue
                deleted_objects = resource.empty()
            resource.delete()
            actions.append(Action(resource.kind, resource.name, "delete"))
        for parameter in delete_secrets(stack):
            actions.append(Action("ssm-parameter", parameter, "delete"))
    return InfraResult("down", stack, actions, details={"deleted_objects": deleted_objects})
