"""The worker's devices: one consumer slot per GPU (``--gpus``), each with its own models.

A slot is a copy of the models on one GPU (or, on a CPU with ``--gpus N``, on a share of the
cores). Each slot has its own settings and model cache, hence its own ``JobRunner``; the
jobs it takes keep their own leases, and every slot shares the worker's stop flags, so a
Spot notice or SIGTERM reaches every job on the machine.
"""

from __future__ import annotations

from dataclasses import replace

from transcriber_cli.aws.pricing import Rate
from transcriber_cli.config import Settings
from transcriber_cli.engine.device import cuda_device_count, resolve_device
from transcriber_cli.engine.gpus import Slot, plan_slots


def worker_slots(settings: Settings) -> list[Slot]:
    """The slots ``settings`` ask for: unset ``gpus`` is every GPU of the machine, or one
    CPU copy when there is none."""
    device, _ = resolve_device(settings.device, settings.compute_type)
    count = cuda_device_count() if device == "cuda" else 0
    return plan_slots(settings.gpus, device, count)


def share(rate: Rate | None, slots: int) -> Rate | None:
    """What a job on one of ``slots`` devices pays: its share of the machine's hour (four
    jobs at once on a 4-GPU instance cost what the instance costs, not four times that)."""
    if rate is None or slots <= 1:
        return rate
    basis = f"{rate.basis}; a 1/{slots} share ({slots} devices)"
    return replace(rate, usd_per_hour=round(rate.usd_per_hour / slots, 6), basis=basis)
