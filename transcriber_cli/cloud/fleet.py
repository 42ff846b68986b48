"""``fleet up|scale|status|down``: launch template + Spot Auto Scaling group scaled on the queue.

Capacity is counted in GPUs: each instance type of the group weighs its GPUs
(``WeightedCapacity``), so ``--max``, ``fleet scale N`` and the scaling steps are GPUs, and
every worker runs one consumer per GPU (``transcriber worker --gpus all``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from transcriber_cli import __version__
from transcriber_cli.aws import naming, pricing
from transcriber_cli.aws.errors import aws_errors, error_code, none_if_missing
from transcriber_cli.aws.instances import GPUS_PER_INSTANCE, gpus_per_instance
from transcriber_cli.aws.s3 import Storage
from transcriber_cli.cloud import artifacts, scaling, userdata
from transcriber_cli.cloud.iam import WorkerRole
from transcriber_cli.cloud.network import (
    SecurityGroup,
    default_subnets,
    internet_gateway_only,
)
from transcriber_cli.cloud.plan import Action, ActionKind, PlanResult, Resource, apply_one
from transcriber_cli.cloud.queues import Queue
from transcriber_cli.cloud.stack import Stack, tag_map
from transcriber_cli.cloud.storage import Bucket
from transcriber_cli.cloud.userdata import CONTROL
from transcriber_cli.errors import SetupError, UsageError

log = logging.getLogger(__name__)
# A deleted group stays listed ("Delete in progress") while its instances end: minutes.
DELETING_POLL_SECONDS = 5
DELETING_PATIENCE_SECONDS = 900

SCHEMA = "transcriber.fleet/1"
# Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04): NVIDIA driver + CUDA, x86_64,
# and Python 3.12 (22.04 has 3.10, older than the 3.11 the package needs).
DLAMI_PARAMETER = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"
)
DEFAULT_INSTANCE_TYPES = ("g4dn.xlarge", "g5.xlarge", "g6.xlarge")
DEFAULT_MAX = 4  # GPUs
ROOT_VOLUME_GIB = 100


@dataclass
class FleetOptions:
    instance_types: tuple[str, ...] = DEFAULT_INSTANCE_TYPES
    max_size: int = DEFAULT_MAX  # GPUs
    on_demand: bool = False
    version: str = __version__
    ami: str | None = None
    ami_parameter: str = DLAMI_PARAMETER
    wheel: Path | None = None  # the installed version's wheel (default: built from the checkout)
    public_ip: bool = False  # a public address on each worker (subnets without NAT need one)
    # The operator's allowlists for the workers (config.py worker_models, ...); empty: the
    # worker's defaults.
    allow_models: tuple[str, ...] = ()
    allow_diarization_models: tuple[str, ...] = ()

    def check(self) -> FleetOptions:
        try:
            Version(self.version)
        except InvalidVersion:
            raise UsageError(
                f"invalid --version {self.version!r}: not a PEP 440 version (e.g. 1.4.0)"
            ) from None
        allowed = {
            "--allow-model": self.allow_models,
            "--allow-diarization-model": self.allow_diarization_models,
        }
        for flag, names in allowed.items():
            for name in names:
                # The worker reads the list comma-separated; a control character could forge
                # a line of the boot script.
                if not name.strip() or "," in name or CONTROL.search(name):
                    raise UsageError(
                        f"invalid {flag} {name!r}: a model name, hub id, directory or pattern "
                        "(no commas or control characters)"
                    )
        if not self.instance_types:
            raise UsageError("--instance-types needs at least one type")
        for itype in self.instance_types:
            if "." not in itype or " " in itype:
                raise UsageError(f"invalid instance type {itype!r} (e.g. g5.xlarge)")
        if not 1 <= self.max_size <= 100:
            raise UsageError("--max must be between 1 and 100 GPUs")
        return self


def find_ami(stack: Stack, options: FleetOptions) -> dict[str, Any]:
    """The AMI id (given, or from the public SSM parameter) and its root device."""
    ami = options.ami
    if ami is None:
        try:
            ami = stack.client("ssm").get_parameter(Name=options.ami_parameter)["Parameter"][
                "Value"
            ]
        except Exception as exc:
            if error_code(exc) in ("ParameterNotFound", "ValidationException"):
                raise SetupError(
                    f"cannot find the GPU AMI parameter {options.ami_parameter} in {stack.region}",
                    hint="pass --ami ami-... or --ami-parameter",
                ) from None
            raise
    images = stack.client("ec2").describe_images(Filters=[{"Name": "image-id", "Values": [ami]}])[
        "Images"
    ]
    if not images:
        raise SetupError(f"AMI {ami} not found in {stack.region}")
    image = images[0]
    root = image.get("RootDeviceName") or "/dev/sda1"
    size = max(
        [ROOT_VOLUME_GIB]
        + [
            m["Ebs"].get("VolumeSize", 0)
            for m in image.get("BlockDeviceMappings", [])
            if m.get("DeviceName") == root and "Ebs" in m
        ]
    )
    return {"id": ami, "root_device": root, "root_gib": size}


class LaunchTemplate(Resource):
    kind = "launch-template"

    def __init__(self, stack: Stack, data: dict[str, Any]) -> None:
        super().__init__(stack)
        self.data = data
        self.ec2 = stack.client("ec2")

    @property
    def name(self) -> str:
        return naming.launch_template_name(self.stack.name)

    def desired(self) -> dict[str, Any]:
        return {"data": self.data, "tags": self.stack.tags}

    def find(self) -> dict[str, Any] | None:
        found = none_if_missing(
            ("InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound"),
            self.ec2.describe_launch_templates,
            LaunchTemplateNames=[self.name],
        )
        return found["LaunchTemplates"][0] if found and found["LaunchTemplates"] else None

    def current(self) -> dict[str, Any] | None:
        template = self.find()
        if template is None:
            return None
        version = self.ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]
        data = dict(version["LaunchTemplateData"])
        # moto copies the template's own tags into the version data; only ours compare.
        if data.get("TagSpecifications"):
            data["TagSpecifications"] = [
                t for t in data["TagSpecifications"] if t["ResourceType"] != "launch-template"
            ]
        return {
            "data": {k: data.get(k) for k in self.data},
            "tags": tag_map(template.get("Tags", [])),
            "id": template["LaunchTemplateId"],
            "version": version["VersionNumber"],
        }

    def create(self) -> None:
        self.ec2.create_launch_template(
            LaunchTemplateName=self.name,
            LaunchTemplateData=self.data,
            VersionDescription=f"transcriber {self.stack.name}",
            TagSpecifications=self.stack.tag_specs("launch-template"),
        )

    def update(self, changed: list[str]) -> None:
        template = self.find()
        assert template is not None
        if "data" in changed:
            # A new version; the group launches "$Latest", running instances are untouched.
            self.ec2.create_launch_template_version(
                LaunchTemplateId=template["LaunchTemplateId"], LaunchTemplateData=self.data
            )
        if "tags" in changed:
            self.ec2.create_tags(
                Resources=[template["LaunchTemplateId"]], Tags=self.stack.tag_list()
            )

    def delete(self) -> None:
        self.ec2.delete_launch_template(LaunchTemplateName=self.name)


def check_capacity(options: FleetOptions, gpus: dict[str, int]) -> None:
    """An instance larger than ``--max`` would take the group past its maximum at once
    (AWS lets a weighted group overshoot by one instance)."""
    largest = max(gpus, key=lambda t: gpus[t])
    if gpus[largest] > options.max_size:
        raise UsageError(
            f"--max {options.max_size} GPUs is less than one {largest} ({gpus[largest]} GPUs)",
            hint=f"raise --max to at least {gpus[largest]}, or leave {largest} out",
        )


def instances_distribution(options: FleetOptions) -> dict[str, Any]:
    # Spot is requested here, not in the launch template: a mixed-instances group refuses a
    # template that sets InstanceMarketOptions.
    distribution: dict[str, Any] = {
        "OnDemandBaseCapacity": 0,
        "OnDemandPercentageAboveBaseCapacity": 100 if options.on_demand else 0,
    }
    if options.on_demand:
        distribution["OnDemandAllocationStrategy"] = "lowest-price"
    else:
        distribution["SpotAllocationStrategy"] = "price-capacity-optimized"
    return distribution


def mixed_instances_policy(
    stack: Stack, options: FleetOptions, gpus: dict[str, int]
) -> dict[str, Any]:
    return {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {
                "LaunchTemplateName": naming.launch_template_name(stack.name),
                "Version": "$Latest",
            },
            # Capacity in GPUs: an instance counts for its GPUs.
            "Overrides": [
                {"InstanceType": t, "WeightedCapacity": str(gpus[t])}
                for t in options.instance_types
            ],
        },
        "InstancesDistribution": instances_distribution(options),
    }


class AutoScalingGroup(Resource):
    kind = "autoscaling-group"

    def __init__(
        self,
        stack: Stack,
        options: FleetOptions,
        subnets: list[str],
        gpus: dict[str, int] | None = None,
    ) -> None:
        super().__init__(stack)
        self.options = options
        self.subnets = subnets
        # GPUs per instance type, the group's weights: known to `fleet up`, which writes
        # them; reading, scaling and deleting the group need none.
        self.gpus = gpus or {}
        self.asg = stack.client("autoscaling")

    @property
    def name(self) -> str:
        return naming.asg_name(self.stack.name)

    def desired(self) -> dict[str, Any]:
        return {
            "min": 0,
            "max": self.options.max_size,
            "mixed_instances_policy": self._mixed(),
            "capacity_rebalance": True,
            "subnets": self.subnets,
            "tags": self.stack.tags,
        }

    def _mixed(self) -> dict[str, Any]:
        return mixed_instances_policy(self.stack, self.options, self.gpus)

    def describe(self) -> dict[str, Any] | None:
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])
        return groups["AutoScalingGroups"][0] if groups["AutoScalingGroups"] else None

    def _settled(self) -> dict[str, Any] | None:
        """The group as a plan sees it: one being deleted (a `fleet down` just before; its
        ``Status`` set) is waited out, then None. Taken for the group, `fleet up` planned
        nothing for it and then it was gone, the backlog alarm scaling nothing, or the
        update failed ("may not be modified while it is pending delete")."""
        group = self.describe()
        deadline = time.monotonic() + DELETING_PATIENCE_SECONDS
        while group is not None and group.get("Status"):
            if time.monotonic() > deadline:
                raise SetupError(f"Auto Scaling group {self.name} is still being deleted",
                                 hint="run the command again in a few minutes")  # fmt: skip
            log.warning("Auto Scaling group %s: %s; waiting for it to end", self.name,
                        group["Status"])  # fmt: skip
            time.sleep(DELETING_POLL_SECONDS)
            group = self.describe()
        return group

    def current(self) -> dict[str, Any] | None:
        group = self._settled()
        if group is None:
            return None
        mixed = group.get("MixedInstancesPolicy") or {}
        spec = mixed.get("LaunchTemplate", {}).get("LaunchTemplateSpecification", {})
        mixed_cmp = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {
                    "LaunchTemplateName": spec.get("LaunchTemplateName"),
                    "Version": spec.get("Version"),
                },
                "Overrides": [
                    {
                        "InstanceType": o["InstanceType"],
                        "WeightedCapacity": o.get("WeightedCapacity"),
                    }
                    for o in mixed.get("LaunchTemplate", {}).get("Overrides", [])
                ],
            },
            "InstancesDistribution": {
                k: v
                for k, v in (mixed.get("InstancesDistribution") or {}).items()
                if k in instances_distribution(self.options)
            },
        }
        return {
            "min": group["MinSize"],
            "max": group["MaxSize"],
            "desired_capacity": group["DesiredCapacity"],
            "mixed_instances_policy": mixed_cmp,
            "capacity_rebalance": group.get("CapacityRebalance", False),
            "subnets": sorted(filter(None, group.get("VPCZoneIdentifier", "").split(","))),
            "tags": tag_map(group.get("Tags", [])),
        }

    def _common(self) -> dict[str, Any]:
        return {
            "AutoScalingGroupName": self.name,
            "MinSize": 0,
            "MaxSize": self.options.max_size,
            "MixedInstancesPolicy": self._mixed(),
            "CapacityRebalance": True,  # replace Spot instances AWS flags as at risk, early
            "VPCZoneIdentifier": ",".join(self.subnets),
        }

    def create(self) -> None:
        self.asg.create_auto_scaling_group(
            DesiredCapacity=0,
            Tags=[
                {"Key": k, "Value": v, "PropagateAtLaunch": True}
                for k, v in self.stack.tags.items()
            ],
            **self._common(),
        )

    def update(self, changed: list[str]) -> None:
        current = self.current() or {}
        kwargs = self._common()
        if current.get("desired_capacity", 0) > self.options.max_size:
            kwargs["DesiredCapacity"] = self.options.max_size
        self.asg.update_auto_scaling_group(**kwargs)
        if "tags" in changed:
            self.asg.create_or_update_tags(
                Tags=[
                    {"ResourceId": self.name, "ResourceType": "auto-scaling-group", "Key": k,
                     "Value": v, "PropagateAtLaunch": True}
                    for k, v in self.stack.tags.items()
                ]
            )  # fmt: skip

    def delete(self) -> None:
        self.asg.delete_auto_scaling_group(AutoScalingGroupName=self.name, ForceDelete=True)


def release_for(stack: Stack, options: FleetOptions, dry_run: bool) -> artifacts.Release:
    """The worker release: the installed version is built (or taken from ``--wheel``) and
    uploaded; another ``--version`` must already be in the bucket (a rollback)."""
    storage = Storage(stack.client("s3"), stack.bucket)
    if options.version != __version__:
        if options.wheel is not None:
            raise UsageError("--wheel ships the installed version; leave out --version")
        return artifacts.published(storage, options.version)
    prepared = artifacts.prepare(options.version, options.wheel)
    return prepared.release if dry_run else artifacts.publish(storage, prepared)


def allowlist_env(options: FleetOptions) -> dict[str, str]:
    env = {}
    if options.allow_models:
        env[userdata.ALLOW_MODELS] = ",".join(options.allow_models)
    if options.allow_diarization_models:
        env[userdata.ALLOW_DIARIZATION_MODELS] = ",".join(options.allow_diarization_models)
    return env


def launch_template_data(stack: Stack, options: FleetOptions, ami: dict[str, Any],
                         queue_url: str, security_group: str,
                         release: artifacts.Release,
                         models: artifacts.ModelsRelease | None = None,
                         ) -> dict[str, Any]:  # fmt: skip
    script = userdata.render(stack.name, stack.region, stack.bucket, queue_url, release, models,
                             allowlist_env(options))  # fmt: skip
    return {
        "ImageId": ami["id"],
        "IamInstanceProfile": {"Name": naming.role_name(stack.name)},
        # The group picks the subnet; the interface says whether the instance gets a public
        # address (default subnets would give one to every worker).
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "Groups": [security_group],
                "AssociatePublicIpAddress": options.public_ip,
                "DeleteOnTermination": True,
            }
        ],
        "MetadataOptions": {
            "HttpTokens": "required",  # IMDSv2 only
            "HttpEndpoint": "enabled",
            # 1: the worker runs on the host, so no container one hop further needs the
            # instance credentials.
            "HttpPutResponseHopLimit": 1,
        },
        "BlockDeviceMappings": [
            {
                "DeviceName": ami["root_device"],
                "Ebs": {
                    "VolumeSize": ami["root_gib"],
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        "UserData": userdata.encode(script),
        "TagSpecifications": stack.tag_specs("instance", "volume"),
    }


class FleetResult(PlanResult):
    schema = SCHEMA


def _infra_ready(stack: Stack) -> tuple[str, str]:
    """Queue URL and security group id; a clear error when ``infra up`` has not run."""
    missing = []
    queue_url = Queue(stack).url()
    if queue_url is None:
        missing.append("job queue")
    sg = SecurityGroup(stack).find()
    if sg is None:
        missing.append("security group")
    if WorkerRole(stack).current() is None:
        missing.append("worker role")
    if Bucket(stack).current() is None:
        missing.append("bucket")
    if missing:
        raise SetupError(
            f"stack {stack.name} is missing: {', '.join(missing)}",
            hint="run 'transcriber infra up' first",
        )
    assert queue_url is not None and sg is not None
    return queue_url, sg["GroupId"]


def up(stack: Stack, options: FleetOptions, dry_run: bool = False) -> FleetResult:
    options.check()
    with aws_errors():
        gpus = gpus_per_instance(stack.client("ec2"), options.instance_types)
        check_capacity(options, gpus)
        queue_url, sg_id = _infra_ready(stack)
        vpc = SecurityGroup(stack).vpc
        subnets = default_subnets(stack, vpc)
        stranded = [] if options.public_ip else internet_gateway_only(stack, vpc, subnets)
        if stranded:  # workers there could not boot: refuse rather than pay for them
            raise UsageError(
                f"subnets {', '.join(stranded)} reach the internet only through an internet "
                "gateway, so workers without a public address could not boot there",
                hint="pass --public-ip, or route those subnets through a NAT gateway "
                "(docs/cloud.md, Network)",
            )
        ami = find_ami(stack, options)
        release = release_for(stack, options, dry_run)
        models = artifacts.models_release(Storage(stack.client("s3"), stack.bucket))
        data = launch_template_data(stack, options, ami, queue_url, sg_id, release, models)
        actions = [
            apply_one(LaunchTemplate(stack, data), dry_run),
            apply_one(AutoScalingGroup(stack, options, subnets, gpus), dry_run),
        ]
        out, zero = scaling.policies(stack)
        actions += [apply_one(out, dry_run), apply_one(zero, dry_run)]
        for alarm in scaling.alarms(stack, out.arn(), zero.arn()):
            actions.append(apply_one(alarm, dry_run))
        details: dict[str, Any] = {
            "gpus_per_instance": gpus,
            "ami": ami["id"],
            "version": options.version,
            "release": release.as_dict(),
            "models": models.as_dict() if models else None,
        }
        if not dry_run:
            details["summary"] = summary(stack, gpus)
    return FleetResult("up", stack, actions, details=details)


def scale(stack: Stack, desired: int) -> FleetResult:
    """Set the desired capacity to ``desired`` GPUs (the group weighs each type's GPUs)."""
    with aws_errors():
        group = AutoScalingGroup(stack, FleetOptions(), []).describe()
        if group is None:
            raise SetupError(f"stack {stack.name} has no fleet", hint="run 'transcriber fleet up'")
        if not group["MinSize"] <= desired <= group["MaxSize"]:
            raise UsageError(
                f"desired capacity {desired} GPUs is outside "
                f"{group['MinSize']}..{group['MaxSize']} GPUs",
                hint="raise the maximum with 'transcriber fleet up --max N'",
            )
        stack.client("autoscaling").set_desired_capacity(
            AutoScalingGroupName=group["AutoScalingGroupName"],
            DesiredCapacity=desired,
            HonorCooldown=False,
        )
    change = f"desired {group['DesiredCapacity']} -> {desired} GPU(s)"
    action: ActionKind = "update" if group["DesiredCapacity"] != desired else "none"
    return FleetResult("scale", stack, [Action("autoscaling-group", group["AutoScalingGroupName"],
                                               action, [change])])  # fmt: skip


def down(stack: Stack, destroy: bool = False) -> FleetResult:
    with aws_errors():
        if destroy:
            return FleetResult("down", stack, destroy_fleet(stack))
        asg = AutoScalingGroup(stack, FleetOptions(), [])
        group = asg.describe()
        if group is None:
            return FleetResult("down", stack, [])
        stack.client("autoscaling").update_auto_scaling_group(
            AutoScalingGroupName=asg.name, MinSize=0, DesiredCapacity=0
        )
        change = f"desired {group['DesiredCapacity']} -> 0 GPU(s)"
        return FleetResult("down", stack, [Action(asg.kind, asg.name, "update", [change])])


def destroy_fleet(stack: Stack) -> list[Action]:
    """Delete alarms, the group (its policies go with it) and the launch template."""
    actions: list[Action] = []
    out, zero = scaling.policies(stack)
    for alarm in scaling.alarms(stack, "", ""):
        if alarm.current() is not None:
            alarm.delete()
            actions.append(Action(alarm.kind, alarm.name, "delete"))
    asg = AutoScalingGroup(stack, FleetOptions(), [])
    current = asg.current()
    if current is not None and stack.owns(current["tags"]):
        asg.delete()
        actions.append(Action(asg.kind, asg.name, "delete", note="instances terminate"))
        actions += [Action(p.kind, p.name, "delete", note="with the group") for p in (out, zero)]
    template = LaunchTemplate(stack, {})
    found = template.find()
    if found is not None and stack.owns(tag_map(found.get("Tags", []))):
        template.delete()
        actions.append(Action(template.kind, template.name, "delete"))
    return actions


def destroy(stack: Stack) -> list[Action]:
    return destroy_fleet(stack)


# The doctor-style summary after `infra up` and `fleet up`: what exists and what it costs.
def summary(stack: Stack, gpus: dict[str, int] | None = None) -> dict[str, Any]:
    group = AutoScalingGroup(stack, FleetOptions(), []).describe()
    if gpus is None and group is not None:
        gpus = group_gpus(group)
    if not gpus:
        gpus = {t: GPUS_PER_INSTANCE[t] for t in DEFAULT_INSTANCE_TYPES}
    return {
        "bucket": stack.bucket,
        "queue": naming.queue_name(stack.name),
        "fleet": (
            {"desired": group["DesiredCapacity"], "max": group["MaxSize"], "unit": "GPUs"}
            if group
            else None
        ),
        "idle_cost": {
            "compute_usd_per_hour": 0.0,
            "note": (
                "the fleet scales to 0 instances when idle; S3 (storage, requests), SQS "
                "(requests), CloudWatch (alarms, logs) and SSM are billed by usage: "
                "cents per month for an idle stack"
            ),
        },
        "gpu_hour": [gpu_price(t, n) for t, n in gpus.items()],
    }


def group_gpus(group: dict[str, Any]) -> dict[str, int]:
    """GPUs per instance type, as the group weighs them (1 for a group made before weights)."""
    overrides = (group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate", {})
    return {
        o["InstanceType"]: int(o.get("WeightedCapacity") or 1)
        for o in overrides.get("Overrides", [])
    }


def gpu_price(instance_type: str, gpus: int) -> dict[str, Any]:
    """The instance's prices, and what one of its GPUs costs an hour on Spot."""
    row: dict[str, Any] = {**pricing.price(instance_type), "gpus": gpus}
    spot = row["spot_estimate_usd_per_hour"]
    row["spot_estimate_usd_per_gpu_hour"] = round(spot / gpus, 4) if spot else None
    return row
