"""A worker's devices: what a job pays on one of several (the slots themselves, one
consumer each with its own models, come from ``engine.gpus``: every slot shares the
worker's stop flags, so a Spot notice or SIGTERM reaches every job on the machine)."""

from __future__ import annotations

from dataclasses import replace

from transcriber_cli.aws.pricing import Rate


def share(rate: Rate | None, slots: int) -> Rate | None:
    """What a job on one of ``slots`` devices pays: its share of the machine's hour (four
    jobs at once on a 4-GPU instance cost what the instance costs, not four times that)."""
    if rate is None or slots <= 1:
        return rate
    basis = f"{rate.basis}; a 1/{slots} share ({slots} devices)"
    return replace(rate, usd_per_hour=round(rate.usd_per_hour / slots, 6), basis=basis)
