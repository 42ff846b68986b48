"""A worker's devices: what a job pays on one of several (the slots themselves, one
consumer each with its own models, come from ``engine.gpus``: every slot shares the
worker's stop flags, so a Spot notice or SIGTERM reaches every job on the machine)."""

from __future__ import annotations

from dataclasses import replace

from transcriber_cli.aws.pricing import Rate


def share(rate: Rate | None, slots: int, per_slot: int = 1) -> Rate | None:
    """What a job in one of ``slots`` devices × ``per_slot`` jobs at once pays: its share of
    the machine's hour (four jobs at once on a 4-GPU instance cost what the instance costs,
    not four times that; with ``--concurrency 2``, eight jobs do)."""
    parts = max(1, slots) * max(1, per_slot)
    if rate is None or parts == 1:
        return rate
    what = f"{slots} devices" if slots > 1 else "1 device"
    if per_slot > 1:
        what += f" x {per_slot} jobs each"
    basis = f"{rate.basis}; a 1/{parts} share ({what})"
    return replace(rate, usd_per_hour=round(rate.usd_per_hour / parts, 6), basis=basis)
