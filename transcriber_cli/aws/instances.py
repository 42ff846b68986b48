"""How many GPUs an EC2 instance type has: the fleet counts its capacity in GPUs.

A table of the NVIDIA GPU types the fleet is meant for; a type not in it is looked up with
``ec2:DescribeInstanceTypes`` (``GpuInfo``) by the operator running ``fleet up``, and refused
when it does not exist, has no whole NVIDIA GPU (the worker needs CUDA; a fractional GPU such
as g6f's is not one) or is not x86_64 (the workers' image, e.g. Graviton's g5g).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from transcriber_cli.aws.errors import error_code
from transcriber_cli.errors import UsageError


def _family(name: str, sizes: dict[int, Iterable[str]]) -> dict[str, int]:
    return {f"{name}.{size}": gpus for gpus, names in sizes.items() for size in names}


ONE = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
GPUS_PER_INSTANCE: dict[str, int] = {
    **_family("g4dn", {1: ONE, 4: ("12xlarge",), 8: ("metal",)}),
    **_family("g5", {1: ONE, 4: ("12xlarge", "24xlarge"), 8: ("48xlarge",)}),
    **_family("g6", {1: ONE, 4: ("12xlarge", "24xlarge"), 8: ("48xlarge",)}),
    **_family("g6e", {1: ONE, 4: ("12xlarge", "24xlarge"), 8: ("48xlarge",)}),
    **_family("p3", {1: ("2xlarge",), 4: ("8xlarge",), 8: ("16xlarge",)}),
    "p3dn.24xlarge": 8,
    "p4d.24xlarge": 8,
    "p4de.24xlarge": 8,
    "p5.48xlarge": 8,
    "p5e.48xlarge": 8,
}


def _described(ec2: Any, types: Sequence[str]) -> dict[str, int]:
    """GPUs of ``types`` as EC2 describes them; a type EC2 does not know is an error."""
    try:
        found = ec2.describe_instance_types(InstanceTypes=list(types))["InstanceTypes"]
    except Exception as exc:
        if error_code(exc) == "InvalidInstanceType":
            # EC2 names the ones it does not know: "... do not exist: [x9.huge]".
            named = re.search(r"\[([^\]]+)\]", str(exc))
            raise UsageError(
                f"unknown instance type {named.group(1) if named else ', '.join(types)}: "
                "EC2 has no such type in this region",
                hint="GPU types look like g5.xlarge or g5.12xlarge",
            ) from None
        raise
    out = {}
    for item in found:
        itype = item["InstanceType"]
        arches = (item.get("ProcessorInfo") or {}).get("SupportedArchitectures") or []
        if "x86_64" not in arches:
            raise UsageError(
                f"instance type {itype} is {'/'.join(arches) or 'not x86_64'}; the workers' "
                "image (the GPU DLAMI) is x86_64",
                hint="use x86_64 GPU types such as g5.xlarge or g6.12xlarge",
            )
        gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
        out[itype] = sum(int(g.get("Count", 0)) for g in gpus if g.get("Manufacturer") == "NVIDIA")
    return out


def gpus_per_instance(ec2: Any, types: Sequence[str]) -> dict[str, int]:
    """``{type: GPUs}`` for every one of ``types``: the table, else EC2."""
    counts = {t: GPUS_PER_INSTANCE[t] for t in types if t in GPUS_PER_INSTANCE}
    unknown = [t for t in types if t not in counts]
    if unknown:
        counts.update(_described(ec2, unknown))
    for itype in types:
        if itype not in counts:
            raise UsageError(f"unknown instance type {itype}")
        if counts[itype] < 1:
            raise UsageError(
                f"instance type {itype} has no NVIDIA GPU (a whole one); the workers need CUDA",
                hint="use GPU types such as g4dn.xlarge, g5.12xlarge or p4d.24xlarge",
            )
    return {t: counts[t] for t in types}
