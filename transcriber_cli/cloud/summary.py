"""The doctor-style summary after ``up``: what exists and what it costs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transcriber_cli.cloud import naming, pricing
from transcriber_cli.cloud.stack import Stack


def summary(stack: Stack, instance_types: Sequence[str] | None = None) -> dict[str, Any]:
    from transcriber_cli.cloud.fleet import DEFAULT_INSTANCE_TYPES, AutoScalingGroup, FleetOptions

    group = AutoScalingGroup(stack, FleetOptions(), []).describe()
    if instance_types is None and group is not None:
        overrides = (group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate", {})
        instance_types = [o["InstanceType"] for o in overrides.get("Overrides", [])]
    types = list(instance_types or DEFAULT_INSTANCE_TYPES)
    return {
        "bucket": stack.bucket,
        "queue": naming.queue_name(stack.name),
        "fleet": (
            {"desired": group["DesiredCapacity"], "max": group["MaxSize"]} if group else None
        ),
        "idle_cost": {
            "compute_usd_per_hour": 0.0,
            "note": (
                "the fleet scales to 0 instances when idle; S3 (storage, requests), SQS "
                "(requests), CloudWatch (alarms, logs) and SSM are billed by usage: "
                "cents per month for an idle stack"
            ),
        },
        "gpu_hour": [pricing.price(t) for t in types],
    }
