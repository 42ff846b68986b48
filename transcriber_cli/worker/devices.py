"""A worker's devices: what a job pays on one of several, and on one shared with other jobs
(the slots themselves, one consumer each with its own models, come from ``engine.gpus``:
every slot shares the worker's stop flags, so a Spot notice or SIGTERM reaches every job on
the machine)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from transcriber_cli.aws.pricing import Rate
from transcriber_cli.engine.gpus import in_flight


def share(rate: Rate | None, slots: int) -> Rate | None:
    """What an hour of one of ``slots`` devices costs: its share of the machine's hour
    (four jobs at once on a 4-GPU instance cost what the instance costs, not four times
    that). Jobs at once on one device split its hour by ``SharedTime``."""
    if rate is None or slots <= 1:
        return rate
    basis = f"{rate.basis}; a 1/{slots} share ({slots} devices)"
    return replace(rate, usd_per_hour=round(rate.usd_per_hour / slots, 6), basis=basis)


def jobs_at_once(asked: int, device: str, once: bool, free: int | None = None) -> int:
    """Jobs one slot of a worker takes at once: ``--concurrency``, or when that is 0 (auto)
    the folder's rule (``engine.gpus.in_flight``: 16 on a GPU with 16 GiB free, else 4, 1 on
    a CPU), and with ``--once`` one, the job that was asked for."""
    if once and not asked:
        return 1
    return in_flight(asked, device, free)


class SharedTime:
    """A device's time split among the jobs it runs at once: every stretch of ``dt`` in which
    ``n`` jobs ran adds ``dt / n`` to each, so jobs that overlapped pay the device's time
    once between them, and a job that ran alone pays all of it (however many jobs at once
    the worker would take)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since = clock()
        self._shares: dict[int, float] = {}  # the jobs running
        self._stopped: dict[int, float] = {}  # ended, their share kept until forgotten
        self._ids = itertools.count()

    def _advance(self) -> None:  # under the lock
        now = self._clock()
        if self._shares:
            each = (now - self._since) / len(self._shares)
            for job in self._shares:
                self._shares[job] += each
        self._since = now

    def start(self) -> int:
        """A job begins: its handle for ``so_far``, ``stop`` and ``forget``."""
        with self._lock:
            self._advance()
            job = next(self._ids)
            self._shares[job] = 0.0
            return job

    def so_far(self, job: int) -> float:
        """The seconds of the device this job has had (until ``stop``)."""
        with self._lock:
            self._advance()
            return self._shares.get(job, self._stopped.get(job, 0.0))

    def stop(self, job: int) -> float:
        """The job no longer uses the device (its outputs are up): the others split it from
        now on. Its share stays readable until ``forget``."""
        with self._lock:
            self._advance()
            if job in self._shares:
                self._stopped[job] = self._shares.pop(job)
            return self._stopped.get(job, 0.0)

    def forget(self, job: int) -> None:
        with self._lock:
            self._advance()
            self._shares.pop(job, None)
            self._stopped.pop(job, None)

    @property
    def running(self) -> int:
        """Jobs on the device now."""
        with self._lock:
            return len(self._shares)
