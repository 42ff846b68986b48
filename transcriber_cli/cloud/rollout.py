"""``fleet update``: ship the installed version to a running fleet without losing a job.

The fleet keeps its options (instance types, maximum, Spot or on-demand, AMI, public IPs,
model allowlists); only the
worker release changes: ``fleet up``'s steps publish it and write a new launch template
version, then an EC2 Auto Scaling instance refresh replaces the running instances a few at a
time (``MinHealthyPercentage`` 90, instances already on the new version skipped). A replaced
instance stops its worker with SIGTERM: a job that ends within the grace finishes, any other
is released with its finished windows checkpointed, and another worker resumes it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transcriber_cli import __version__
from transcriber_cli.aws.errors import aws_errors
from transcriber_cli.cloud import userdata
from transcriber_cli.cloud.fleet import AutoScalingGroup, FleetOptions, FleetResult, up
from transcriber_cli.cloud.stack import Stack
from transcriber_cli.errors import SetupError, TranscriberError

PREFERENCES = {"MinHealthyPercentage": 90, "InstanceWarmup": 300, "SkipMatching": True}
ENDED = {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}


def current_options(stack: Stack, wheel: Path | None = None) -> FleetOptions:
    """The running fleet's options, with the installed version as its release."""
    group = AutoScalingGroup(stack, FleetOptions(), []).describe()
    if group is None:
        raise SetupError(f"stack {stack.name} has no fleet", hint="run 'transcriber fleet up'")
    mixed = group.get("MixedInstancesPolicy") or {}
    template = mixed.get("LaunchTemplate", {})
    name = template.get("LaunchTemplateSpecification", {}).get("LaunchTemplateName")
    data = stack.client("ec2").describe_launch_template_versions(
        LaunchTemplateName=name, Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    distribution = mixed.get("InstancesDistribution") or {}
    # What only the template holds: the public-address choice and the allowlists.
    interfaces = data.get("NetworkInterfaces") or [{}]
    env = userdata.env_of(base64.b64decode(data.get("UserData", "")).decode())

    def names(key: str) -> tuple[str, ...]:
        return tuple(n for n in env.get(key, "").split(",") if n)

    return FleetOptions(
        instance_types=tuple(o["InstanceType"] for o in template.get("Overrides", [])),
        max_size=group["MaxSize"],
        on_demand=distribution.get("OnDemandPercentageAboveBaseCapacity") == 100,
        version=__version__,
        ami=data.get("ImageId"),
        wheel=wheel,
        public_ip=bool(interfaces[0].get("AssociatePublicIpAddress", False)),
        allow_models=names(userdata.ALLOW_MODELS),
        allow_diarization_models=names(userdata.ALLOW_DIARIZATION_MODELS),
    )


def start_refresh(asg: Any, group: str) -> str:
    return asg.start_instance_refresh(
        AutoScalingGroupName=group, Strategy="Rolling", Preferences=PREFERENCES
    )["InstanceRefreshId"]


def refresh_state(asg: Any, group: str, refresh_id: str) -> dict[str, Any]:
    found = asg.describe_instance_refreshes(
        AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id]
    )["InstanceRefreshes"][0]
    return {
        "id": refresh_id,
        "status": found["Status"],
        "percent": found.get("PercentageComplete", 0),
        "to_update": found.get("InstancesToUpdate"),
        "reason": found.get("StatusReason"),
    }


def wait_refresh(
    asg: Any,
    group: str,
    refresh_id: str,
    on_progress: Callable[[dict[str, Any]], None],
    *,
    poll: float = 15,
    timeout: float = 6 * 3600,
) -> dict[str, Any]:
    """Report the refresh until it ends; a failed one is one line with AWS's reason."""
    deadline = time.monotonic() + timeout
    while True:
        state = refresh_state(asg, group, refresh_id)
        on_progress(state)
        if state["status"] in ENDED:
            if state["status"] != "Successful":
                raise TranscriberError(
                    f"instance refresh {refresh_id} {state['status'].lower()}: "
                    f"{state['reason'] or 'no reason given'}"
                )
            return state
        if time.monotonic() > deadline:
            raise TranscriberError(f"instance refresh {refresh_id} still running; not waiting")
        time.sleep(poll)


def update(
    stack: Stack,
    *,
    wheel: Path | None = None,
    dry_run: bool = False,
    wait: Callable[[dict[str, Any]], None] | None = None,
) -> FleetResult:
    """Publish the installed version, point the launch template at it, and replace the
    running instances (``wait``: report the refresh until it ends)."""
    options = current_options(stack, wheel)
    result = up(stack, options, dry_run=dry_run)
    result.command = "update"
    with aws_errors():
        group = AutoScalingGroup(stack, options, []).describe()
        assert group is not None
        running = [i for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"]
        template_changed = any(
            a.kind == "launch-template" and a.action != "none" for a in result.actions
        )
        if dry_run or not running or not template_changed:
            why = ("dry run" if dry_run else "no running instance to replace" if not running
                   else "the running instances already have this release")  # fmt: skip
            result.details["refresh"] = {"status": "not started", "reason": why}
            return result
        asg = stack.client("autoscaling")
        name = group["AutoScalingGroupName"]
        refresh_id = start_refresh(asg, name)
        result.details["refresh"] = refresh_state(asg, name, refresh_id)
        if wait is not None:
            result.details["refresh"] = wait_refresh(asg, name, refresh_id, wait)
    return result
