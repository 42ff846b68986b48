"""Plan/apply: each resource states what it should be and what it is; the diff says what to do.

A resource's ``desired()`` and ``current()`` return plain comparable dicts of its settings
(``current()`` is ``None`` when it does not exist). ``plan`` compares them; ``apply`` calls
``create``/``update`` only where they differ, so a second run reports "no changes".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from transcriber_cli.cloud.stack import Stack

ActionKind = Literal["create", "update", "delete", "none", "keep"]


class Resource:
    """Base for one AWS resource of a stack."""

    kind: str = "resource"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    @property
    def name(self) -> str:
        raise NotImplementedError

    def desired(self) -> dict[str, Any]:
        raise NotImplementedError

    def current(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def create(self) -> None:
        raise NotImplementedError

    def update(self, changed: list[str]) -> None:
        raise NotImplementedError

    def delete(self) -> None:
        raise NotImplementedError

    def tagged(self, current: dict[str, Any]) -> bool:
        """Whether what exists under this name carries our stack tag (down deletes only those)."""
        return self.stack.owns(current.get("tags"))


class PutResource(Resource):
    """A resource that one put-call creates or replaces whole (an alarm, a scaling policy),
    given by that call's arguments, ``spec``; the ``COMPARED`` ones are read back and diffed."""

    COMPARED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, stack: Stack, name: str, spec: dict[str, Any]) -> None:
        super().__init__(stack)
        self._name = name
        self.spec = spec

    @property
    def name(self) -> str:
        return self._name

    def compared(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The ``COMPARED`` keys of ``settings`` that the spec sets."""
        return {k: settings.get(k) for k in self.COMPARED if k in self.spec}

    def update(self, changed: list[str]) -> None:
        self.create()  # the put-call replaces the whole definition


@dataclass
class Action:
    kind: str
    name: str
    action: ActionKind
    changes: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.kind,
            "name": self.name,
            "action": self.action,
            "changes": self.changes,
            "note": self.note,
        }


def _normal(value: Any) -> str:
    # Order-insensitive comparison of nested settings (policies, rule lists, tag maps).
    return json.dumps(value, sort_keys=True, default=str)


def diff(desired: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [key for key in desired if _normal(desired[key]) != _normal(current.get(key))]


def plan_one(resource: Resource) -> tuple[Action, dict[str, Any] | None]:
    current = resource.current()
    if current is None:
        return Action(resource.kind, resource.name, "create", sorted(resource.desired())), None
    changed = diff(resource.desired(), current)
    return Action(resource.kind, resource.name, "update" if changed else "none", changed), current


def apply_one(resource: Resource, dry_run: bool) -> Action:
    action, _ = plan_one(resource)
    if dry_run:
        return action
    if action.action == "create":
        resource.create()
    elif action.action == "update":
        resource.update(action.changes)
    return action


def json_header(schema: str, command: str, stack: Stack) -> dict[str, Any]:
    """The keys that every ``infra``/``fleet`` JSON document starts with."""
    return {"schema": schema, "command": command, "stack": stack.name, "region": stack.region}


@dataclass
class PlanResult:
    """What an ``infra``/``fleet`` command did (or, with ``dry_run``, would do)."""

    schema: ClassVar[str] = "transcriber.plan/1"
    command: str
    stack: Stack
    actions: list[Action]
    dry_run: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(a.action != "none" for a in self.actions)

    def as_dict(self) -> dict[str, Any]:
        return {
            **json_header(self.schema, self.command, self.stack),
            "account": self.stack.account,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "actions": [a.as_dict() for a in self.actions],
            **self.details,
        }
