"""Recent throughput and failures from the job documents, for ``fleet status`` and ``jobs list``.

One ``aggregate`` over the jobs that ended inside the window, grouped by status and error, so
the server does the counting and only a handful of groups come back (no getMore needed).
The match is on ``status`` and a ``finished`` range: the ``(status, finished)`` index that
``JobStore.ensure_indexes`` makes serves it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from transcriber_cli.store.mongo import CANCELLED, COMPLETED, FAILED, JobStore, now

WINDOW = dt.timedelta(hours=1)
TOP_ERRORS = 3
ERROR_CHARS = 200  # an error is a one-line summary here; `jobs status` shows it whole
# The worker appends this to a final failure: without it, one cause counts as one error.
_ATTEMPTS = re.compile(r"\s*\(after \d+ attempt\(s\)\)$")


@dataclass(frozen=True)
class Throughput:
    """Jobs that ended within ``window_seconds`` before ``until``."""

    until: dt.datetime
    window_seconds: float
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    audio_seconds: float = 0.0  # source duration of the completed jobs
    gpu_seconds: float = 0.0  # worker time of every attempt of these jobs
    usd: float = 0.0  # what that time cost (estimated from each machine's rate)
    top_errors: list[tuple[str, int]] = field(default_factory=list)  # most frequent first

    @property
    def jobs_per_hour(self) -> float:
        return self.completed * 3600 / self.window_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": (self.until - dt.timedelta(seconds=self.window_seconds)).isoformat(),
            "until": self.until.isoformat(),
            "window_seconds": self.window_seconds,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "audio_seconds": round(self.audio_seconds, 1),
            "jobs_per_hour": round(self.jobs_per_hour, 2),
            "gpu_seconds": round(self.gpu_seconds, 1),
            "usd": round(self.usd, 4),
            "top_errors": [{"error": e, "count": n} for e, n in self.top_errors],
        }


def recent(
    jobs: JobStore | Any,
    *,
    window: dt.timedelta = WINDOW,
    until: dt.datetime | None = None,
) -> Throughput:
    """Counts for the jobs whose ``finished`` lies in ``(until - window, until]``.

    ``jobs`` is a ``JobStore`` or its pymongo ``jobs`` collection."""
    # Not getattr(jobs, "jobs"): a pymongo Collection answers any attribute with a sub-collection.
    collection = jobs.jobs if isinstance(jobs, JobStore) else jobs
    end = until or now()
    pipeline = [
        {
            "$match": {
                "status": {"$in": [COMPLETED, FAILED, CANCELLED]},
                "finished": {"$gt": end - window, "$lte": end},
            }
        },
        {
            "$group": {
                "_id": {"status": "$status", "error": "$error"},
                "jobs": {"$sum": 1},
                "audio": {"$sum": "$source.duration"},
                "gpu": {"$sum": "$cost.gpu_seconds"},
                "usd": {"$sum": "$cost.usd"},
            }
        },
    ]
    counts = {COMPLETED: 0, FAILED: 0, CANCELLED: 0}
    audio = gpu = usd = 0.0
    errors: dict[str, int] = {}
    for group in collection.aggregate(pipeline):
        status, error = group["_id"].get("status"), group["_id"].get("error")
        counts[status] = counts.get(status, 0) + group["jobs"]
        gpu += group.get("gpu") or 0.0
        usd += group.get("usd") or 0.0
        if status == COMPLETED:
            audio += group["audio"] or 0.0
        elif status == FAILED:
            text = _ATTEMPTS.sub("", " ".join(str(error or "unknown error").split()))
            text = text[:ERROR_CHARS]
            errors[text] = errors.get(text, 0) + group["jobs"]
    top = sorted(errors.items(), key=lambda item: (-item[1], item[0]))[:TOP_ERRORS]
    return Throughput(
        until=end,
        window_seconds=window.total_seconds(),
        completed=counts[COMPLETED],
        failed=counts[FAILED],
        cancelled=counts[CANCELLED],
        audio_seconds=float(audio),
        gpu_seconds=float(gpu),
        usd=float(usd),
        top_errors=top,
    )


ESTIMATE_WINDOW = dt.timedelta(days=7)
# With no priced job yet: an audio hour in 6 GPU minutes (10x real time; a T4 with large-v3
# is about that, newer GPUs much faster) on the dearest GPU of the price table.
FALLBACK_GPU_PER_AUDIO_SECOND = 0.1


@dataclass(frozen=True)
class Estimate:
    usd: float
    basis: str


def cost_estimate(jobs: JobStore, audio_seconds: float, *, until: dt.datetime | None = None
                  ) -> Estimate:  # fmt: skip
    """What a job of ``audio_seconds`` will likely cost: the dollars per audio second of the
    jobs completed in the last week (every attempt counted), else a deliberately high guess."""
    from transcriber_cli.aws.pricing import SPOT_FACTOR, dearest_gpu_hour

    end = until or now()
    pipeline = [
        {
            "$match": {
                "status": COMPLETED,
                "finished": {"$gt": end - ESTIMATE_WINDOW, "$lte": end},
                "cost.usd": {"$gt": 0},
            }
        },
        {"$group": {"_id": None, "jobs": {"$sum": 1}, "usd": {"$sum": "$cost.usd"},
                    "audio": {"$sum": "$cost.audio_seconds"}}},
    ]  # fmt: skip
    groups = list(jobs.jobs.aggregate(pipeline))
    if groups and groups[0]["audio"]:
        rate = groups[0]["usd"] / groups[0]["audio"]
        n = groups[0]["jobs"]
        return Estimate(audio_seconds * rate, f"${rate * 3600:.3f} per audio hour over the "
                        f"{n} job(s) completed in the last 7 days")  # fmt: skip
    hourly = dearest_gpu_hour() * SPOT_FACTOR
    usd = audio_seconds * FALLBACK_GPU_PER_AUDIO_SECOND * hourly / 3600
    return Estimate(usd, f"no priced job yet: assumes {FALLBACK_GPU_PER_AUDIO_SECOND:g} GPU "
                    f"seconds per audio second at ${hourly:.2f}/h")  # fmt: skip
