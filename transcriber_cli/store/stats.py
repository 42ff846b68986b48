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
            }
        },
    ]
    counts = {COMPLETED: 0, FAILED: 0, CANCELLED: 0}
    audio = 0.0
    errors: dict[str, int] = {}
    for group in collection.aggregate(pipeline):
        status, error = group["_id"].get("status"), group["_id"].get("error")
        counts[status] = counts.get(status, 0) + group["jobs"]
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
        top_errors=top,
    )
