"""GPU instance prices: for the cost summary of `fleet up`, and for what each job cost.

Approximate, us-east-1 on-demand list price (Linux, USD per hour) as published on
https://aws.amazon.com/ec2/pricing/on-demand/; other regions differ. Spot prices move with
demand: the Spot figure is an estimate (on-demand x SPOT_FACTOR), not a quote. A worker asks
EC2 for the current Spot price of its own type and zone (``hourly_rate``) and falls back to
the estimate when it cannot.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from transcriber_cli.aws.instances import GPUS_PER_INSTANCE

log = logging.getLogger(__name__)

PRICE_REGION = "us-east-1"
SPOT_FACTOR = 0.35  # Spot is commonly 60-70% below on-demand for these families

ON_DEMAND_USD_PER_HOUR: dict[str, float] = {
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g4dn.4xlarge": 1.204,
    "g4dn.12xlarge": 3.912,  # 4 GPUs
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g5.4xlarge": 1.624,
    "g5.12xlarge": 5.672,  # 4 GPUs
    "g5.48xlarge": 16.288,  # 8 GPUs
    "g6.xlarge": 0.8048,
    "g6.2xlarge": 0.9776,
    "g6.4xlarge": 1.3232,
    "g6.12xlarge": 4.6016,  # 4 GPUs
    "g6e.xlarge": 1.861,
    "g6e.2xlarge": 2.24208,
    "p3.2xlarge": 3.06,
    "p4d.24xlarge": 32.7726,  # 8 GPUs
}


def dearest_gpu_hour() -> float:
    """The dearest on-demand hour of one GPU in the table: a job runs on one GPU, so a
    multi-GPU machine's hour is shared by its GPUs (``worker/devices.py``)."""
    return max(usd / GPUS_PER_INSTANCE.get(t, 1) for t, usd in ON_DEMAND_USD_PER_HOUR.items())


def price(instance_type: str) -> dict[str, float | str | None]:
    estimate = estimated_rate(instance_type)
    return {
        "instance_type": instance_type,
        "on_demand_usd_per_hour": ON_DEMAND_USD_PER_HOUR.get(instance_type),
        "spot_estimate_usd_per_hour": estimate.usd_per_hour if estimate else None,
        "basis": (
            f"approximate, {PRICE_REGION} on-demand list price; Spot = x{SPOT_FACTOR} estimate"
        ),
    }


@dataclass(frozen=True)
class Rate:
    """What one hour of a worker's machine costs, and where that figure comes from."""

    instance_type: str
    usd_per_hour: float
    basis: str


def estimated_rate(instance_type: str) -> Rate | None:
    on_demand = ON_DEMAND_USD_PER_HOUR.get(instance_type)
    if on_demand is None:
        return None
    basis = f"estimate: {PRICE_REGION} on-demand list price x{SPOT_FACTOR}"
    return Rate(instance_type, round(on_demand * SPOT_FACTOR, 4), basis)


def hourly_rate(
    ec2: Any, instance_type: str | None, zone: str | None, *, on_demand: bool = False
) -> Rate | None:
    """The Spot price of ``instance_type`` in ``zone`` now (EC2 DescribeSpotPriceHistory),
    else the estimate; the list price for an on-demand instance; None off EC2."""
    if not instance_type:
        return None
    if on_demand:  # `fleet up --on-demand`: billed at the list price, not the Spot price
        usd = ON_DEMAND_USD_PER_HOUR.get(instance_type)
        basis = f"{PRICE_REGION} on-demand list price"
        return None if usd is None else Rate(instance_type, usd, basis)
    if zone:
        try:
            history = ec2.describe_spot_price_history(
                InstanceTypes=[instance_type],
                AvailabilityZone=zone,
                ProductDescriptions=["Linux/UNIX"],
                StartTime=dt.datetime.now(dt.UTC),
                MaxResults=1,
            )["SpotPriceHistory"]
            if history:
                usd = float(history[0]["SpotPrice"])
                return Rate(instance_type, usd, f"Spot price in {zone}")
        except Exception as exc:  # no grant, or EC2 away: the estimate still says something
            log.warning("cannot read the Spot price of %s in %s: %s", instance_type, zone, exc)
    return estimated_rate(instance_type)
