"""``fleet status``: the group, its instances, queue depth, worker heartbeats and the last
hour's throughput and failures (the latter two from MongoDB, over one connection)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.aws.errors import aws_errors, none_if_missing
from transcriber_cli.aws.s3 import BOOT_PREFIX
from transcriber_cli.cloud.fleet import SCHEMA, AutoScalingGroup, FleetOptions, group_gpus
from transcriber_cli.cloud.plan import json_header
from transcriber_cli.cloud.queues import Queue
from transcriber_cli.cloud.stack import Stack
from transcriber_cli.errors import SetupError, TranscriberError

log = logging.getLogger(__name__)
NO_MONGO = "MongoDB not configured"
DAY = dt.timedelta(hours=24)


@dataclass
class FleetStatus:
    stack: Stack
    group: dict[str, Any] | None
    instances: list[dict[str, Any]] = field(default_factory=list)
    queue: dict[str, int] | None = None
    dlq: dict[str, int] | None = None
    workers: list[dict[str, Any]] | None = None
    heartbeats_note: str = ""
    boots: list[dict[str, Any]] = field(default_factory=list)
    last_hour: dict[str, Any] | None = None  # store/stats.py Throughput.as_dict()
    last_hour_note: str = ""
    last_day: dict[str, Any] | None = None  # the same over 24 h: what the jobs cost

    def as_dict(self) -> dict[str, Any]:
        return {
            **json_header(SCHEMA, "status", self.stack),
            "group": self.group,
            "instances": self.instances,
            "queue": self.queue,
            "dlq": self.dlq,
            "workers": self.workers,
            "heartbeats_note": self.heartbeats_note,
            "boots": self.boots,
            "last_hour": self.last_hour,
            "last_day": self.last_day,
            "last_hour_note": self.last_hour_note,
        }


def _instances(stack: Stack, group: dict[str, Any], gpus: dict[str, int]) -> list[dict[str, Any]]:
    ids = [i["InstanceId"] for i in group.get("Instances", [])]
    if not ids:
        return []
    ec2: dict[str, dict[str, Any]] = {}
    for reservation in stack.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]:
        for inst in reservation["Instances"]:
            ec2[inst["InstanceId"]] = inst
    out = []
    for member in group["Instances"]:
        inst = ec2.get(member["InstanceId"], {})
        itype = member.get("InstanceType") or inst.get("InstanceType")
        out.append(
            {
                "id": member["InstanceId"],
                "type": itype,
                # AWS reports each member's weight; else the weight of its type.
                "gpus": int(member.get("WeightedCapacity") or gpus.get(str(itype)) or 1),
                "az": member.get("AvailabilityZone"),
                # EC2 marks Spot instances with InstanceLifecycle=spot; absent means on-demand.
                "lifecycle": inst.get("InstanceLifecycle", "on-demand"),
                "state": member.get("LifecycleState"),
                "health": member.get("HealthStatus"),
                "ec2_state": inst.get("State", {}).get("Name"),
            }
        )
    return out


def _store_view(result: FleetStatus, settings: Any) -> None:
    """Heartbeats and the last hour's figures, or why they are unavailable. The MongoDB URL
    comes from the stack's SSM parameter, as the workers get it, or from the settings."""
    if settings is None:
        result.heartbeats_note = result.last_hour_note = NO_MONGO
        return
    from transcriber_cli.store.mongo import JobStore
    from transcriber_cli.store.stats import recent

    try:
        store = JobStore.from_settings(settings)
    except SetupError:
        result.heartbeats_note = result.last_hour_note = NO_MONGO
        return
    except TranscriberError as exc:  # e.g. a malformed URL (its text is never shown)
        result.heartbeats_note = f"heartbeats unavailable: {exc}"
        result.last_hour_note = f"unavailable: {exc}"
        return
    # A status page must not fail, nor wait, because MongoDB is down: each part says why it
    # is missing.
    store.patience = 0
    try:
        try:
            result.workers = _heartbeat_rows(store.list_workers())
        except Exception as exc:
            log.debug("heartbeats unavailable", exc_info=True)
            result.heartbeats_note = f"heartbeats unavailable: {type(exc).__name__}"
            # Not the next query too: an unreachable server would make it wait its timeout.
            result.last_hour_note = f"unavailable: {type(exc).__name__}"
            return
        try:
            result.last_hour = recent(store).as_dict()
            result.last_day = recent(store, window=DAY).as_dict()
        except Exception as exc:
            log.debug("last hour unavailable", exc_info=True)
            result.last_hour_note = f"unavailable: {type(exc).__name__}"
    finally:
        store.close()


def _heartbeat_rows(workers: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "worker": w.id,
            "instance_id": w.instance_id,
            "instance_type": w.instance_type,
            "jobs": w.jobs,
            "gpus": w.gpus,  # device -> the jobs on it
            "gpus_busy": w.gpus_busy,
            "draining": w.draining,
            "problem": w.problem,
            "last_seen": w.last_seen.isoformat(),
        }
        for w in workers
    ]


BOOT_RECENT = dt.timedelta(hours=6)
BOOT_SHOWN = 10


def boot_reports(stack: Stack) -> list[dict[str, Any]]:
    """What instances said while booting (``boot/{instance}.json``, written by the boot
    script): the last few hours' reports, newest first. A report is the instance's own
    account of itself: only its fields are shown, each bounded."""
    s3 = stack.client("s3")
    # Every page: one holds 1000 keys, and a fleet's instances come and go (one listing
    # showed a new boot only where its key sorted into the first).
    found = none_if_missing(
        {"NoSuchBucket"},
        lambda **kw: list(s3.paginate("list_objects_v2", "Contents", **kw)),
        Bucket=stack.bucket, Prefix=BOOT_PREFIX,
    ) or []  # fmt: skip
    since = dt.datetime.now(dt.UTC) - BOOT_RECENT
    recent = sorted((o for o in found if o["LastModified"] >= since),
                    key=lambda o: o["LastModified"], reverse=True)[:BOOT_SHOWN]  # fmt: skip
    out = []
    for obj in recent:
        try:
            raw = json.loads(s3.get_object(Bucket=stack.bucket, Key=obj["Key"])["Body"].read())
        except (ValueError, KeyError):
            continue
        if not isinstance(raw, dict):
            continue
        listed = raw.get("steps")
        steps: list[Any] = listed if isinstance(listed, list) else []
        out.append(
            {
                "instance_id": str(raw.get("instance_id", ""))[:64],
                "status": str(raw.get("status", "unknown"))[:20],
                "step": str(raw["step"])[:40] if raw.get("step") else None,
                "error": str(raw["error"])[:300] if raw.get("error") else None,
                "steps": [
                    {"name": str(x.get("name"))[:40], "seconds": float(x.get("seconds", 0))}
                    for x in steps[:10]
                    if isinstance(x, dict)
                ],
                "started": str(raw.get("started", ""))[:40],
                "updated": obj["LastModified"].isoformat(),
            }
        )
    return out


def status(stack: Stack, settings: Any = None) -> FleetStatus:
    with aws_errors():
        asg = AutoScalingGroup(stack, FleetOptions(), [])
        group = asg.describe()
        result = FleetStatus(stack, None)
        if group is not None:
            mixed = group.get("MixedInstancesPolicy") or {}
            gpus = group_gpus(group)
            result.instances = _instances(stack, group, gpus)
            result.group = {
                "name": group["AutoScalingGroupName"],
                "min": group["MinSize"],
                "max": group["MaxSize"],
                "desired": group["DesiredCapacity"],  # GPUs, as min and max
                "gpus_per_instance": gpus,
                "gpus_in_service": sum(
                    i["gpus"] for i in result.instances if i["state"] == "InService"
                ),
                "instance_types": [
                    o["InstanceType"] for o in mixed.get("LaunchTemplate", {}).get("Overrides", [])
                ],
                "on_demand_percent": (mixed.get("InstancesDistribution") or {}).get(
                    "OnDemandPercentageAboveBaseCapacity"
                ),
                "capacity_rebalance": group.get("CapacityRebalance", False),
                "launch_template": naming.launch_template_name(stack.name),
            }
        result.queue = Queue(stack).depth()
        result.dlq = Queue(stack, dead_letter=True).depth()
        try:
            result.boots = boot_reports(stack)
        except TranscriberError as exc:  # e.g. no bucket yet: the rest of the page stands
            log.debug("boot reports unavailable: %s", exc)
    _store_view(result, settings)
    return result
