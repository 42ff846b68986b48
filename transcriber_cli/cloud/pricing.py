"""Approximate GPU instance prices for the cost summary.

Approximate, us-east-1 on-demand list price (Linux, USD per hour) as published on
https://aws.amazon.com/ec2/pricing/on-demand/; other regions differ. Spot prices move with
demand: the Spot figure is an estimate (on-demand x SPOT_FACTOR), not a quote.
"""

from __future__ import annotations

PRICE_REGION = "us-east-1"
SPOT_FACTOR = 0.35  # Spot is commonly 60-70% below on-demand for these families

ON_DEMAND_USD_PER_HOUR: dict[str, float] = {
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g4dn.4xlarge": 1.204,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g5.4xlarge": 1.624,
    "g6.xlarge": 0.8048,
    "g6.2xlarge": 0.9776,
    "g6.4xlarge": 1.3232,
    "g6e.xlarge": 1.861,
    "g6e.2xlarge": 2.24208,
    "p3.2xlarge": 3.06,
}


def price(instance_type: str) -> dict[str, float | str | None]:
    on_demand = ON_DEMAND_USD_PER_HOUR.get(instance_type)
    return {
        "instance_type": instance_type,
        "on_demand_usd_per_hour": on_demand,
        "spot_estimate_usd_per_hour": round(on_demand * SPOT_FACTOR, 4) if on_demand else None,
        "basis": (
            f"approximate, {PRICE_REGION} on-demand list price; Spot = x{SPOT_FACTOR} estimate"
        ),
    }
