"""What an hour of a worker's machine costs (aws/pricing.py): the Spot price comes from EC2
(tests/remote/test_cost.py runs it against moto); these are the cases without it."""

from __future__ import annotations

from transcriber_cli.aws.pricing import ON_DEMAND_USD_PER_HOUR, SPOT_FACTOR, hourly_rate, price


class NoEc2:
    """An EC2 client that is never reached (an endpoint that does not answer would raise)."""

    def describe_spot_price_history(self, **_: object) -> dict:
        raise ConnectionError("no EC2 endpoint in this subnet")


def test_on_demand_machines_are_billed_at_the_list_price() -> None:
    rate = hourly_rate(NoEc2(), "g5.xlarge", "us-east-1a", on_demand=True)
    assert rate is not None and rate.usd_per_hour == ON_DEMAND_USD_PER_HOUR["g5.xlarge"]
    assert rate.basis == "us-east-1 on-demand list price"


def test_without_an_answer_from_ec2_the_spot_price_is_estimated() -> None:
    rate = hourly_rate(NoEc2(), "g4dn.xlarge", "us-east-1a")
    assert rate is not None and rate.basis.startswith("estimate:")
    assert rate.usd_per_hour == round(ON_DEMAND_USD_PER_HOUR["g4dn.xlarge"] * SPOT_FACTOR, 4)
    assert price("g4dn.xlarge")["spot_estimate_usd_per_hour"] == rate.usd_per_hour
    assert hourly_rate(NoEc2(), None, None) is None  # off EC2: not priced
    assert hourly_rate(NoEc2(), "x9.unknown", "z", on_demand=True) is None
