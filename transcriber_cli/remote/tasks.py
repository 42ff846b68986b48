"""MongoDB task documents: the one source of truth about a remote job.

Plain pymongo, so it runs unchanged on MongoDB Atlas. Every state change is a conditional
``find_one_and_update`` filtered on the status (and worker) it expects, so two workers can
never both claim or both complete a task, and a cancelled task cannot be revived by a late
worker. Nothing needs sessions, transactions, change streams or getMore: clients poll by id.

Status: queued -> processing -> completed | failed | cancelled (processing -> queued on
release or a retryable failure; failed/cancelled -> queued on ``jobs retry``).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import Any

from transcriber_cli.config import Settings
from transcriber_cli.errors import ConfigError, SetupError, UsageError

QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "processing",
    "completed",
    "failed",
    "cancelled",
)
TERMINAL = (COMPLETED, FAILED, CANCELLED)
ACTIVE = (QUEUED, PROCESSING)
# Segments live in the task document unless they would make it large; then in `segments`.
INLINE_SEGMENTS_BYTES = 4 * 1024 * 1024
SEGMENTS_PER_CHUNK = 500
# What a client poll reads: everything but the (possibly large) segments.
SUMMARY = {"segments": 0}


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class TaskNotFound(UsageError):
    pass


class TaskStateError(UsageError):
    pass


def _connect(url: str, database: str) -> Any:
    import pymongo
    from pymongo.errors import ConfigurationError, InvalidURI

    try:
        client: Any = pymongo.MongoClient(
            url,
            tz_aware=True,
            appname="transcriber",
            serverSelectionTimeoutMS=10_000,
            connectTimeoutMS=10_000,
        )
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        # The message may quote the URL (and its password): keep only the kind of problem.
        kind = type(exc).__name__
        raise ConfigError(f"invalid MongoDB URL ({kind})", hint="check mongodb_url") from None
    return client, client[database]


class TaskStore:
    def __init__(self, db: Any, client: Any = None) -> None:
        self.client = client
        self.db = db
        self.tasks = db["tasks"]
        self.segments = db["segments"]
        self.workers = db["workers"]

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskStore:
        from transcriber_cli.remote.secrets import resolve_secret

        url = resolve_secret(settings, "mongodb_url")
        if url is None or not url.get_secret_value():
            raise SetupError(
                "no MongoDB URL configured",
                hint="set TRANSCRIBER_MONGODB_URL or 'transcriber infra secrets set mongodb_url'",
            )
        client, db = _connect(url.get_secret_value(), settings.mongodb_database)
        return cls(db, client)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one pymongo call; connection trouble becomes a one-line SetupError."""
        from pymongo.errors import ConnectionFailure, OperationFailure

        try:
            return fn(*args, **kwargs)
        except ConnectionFailure:
            hosts = ", ".join(f"{h}:{p}" for h, p in (self.client.nodes if self.client else []))
            raise SetupError(
                f"cannot reach MongoDB{' at ' + hosts if hosts else ''}",
                hint="check mongodb_url and network access",
            ) from None
        except OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise SetupError("MongoDB refused the credentials in mongodb_url") from None
            raise

    def ensure_indexes(self) -> None:
        self._call(self.tasks.create_index, [("status", 1), ("created", -1)])
        self._call(self.tasks.create_index, [("source.sha256", 1), ("options_key", 1)])
        self._call(self.segments.create_index, [("task_id", 1), ("n", 1)])
        self._call(self.workers.create_index, [("last_seen", -1)])

    # --- client side ----------------------------------------------------------------------------
    def create(self, doc: dict) -> dict:
        stamp = now()
        doc = {
            "status": QUEUED,
            "stage": "queued",
            "progress": 0.0,
            "message": "waiting for a worker",
            "outputs": [],
            "attempts": 0,
            "worker": None,
            "lease_until": None,
            "checkpoint": 0.0,
            "error": None,
            "cost": {"seconds": 0.0},
            "created": stamp,
            "updated": stamp,
            **doc,
        }
        self._call(self.tasks.insert_one, doc)
        return doc

    def get(self, task_id: str, *, segments: bool = False) -> dict:
        doc = self._call(self.tasks.find_one, {"_id": task_id}, None if segments else SUMMARY)
        if doc is None:
            raise TaskNotFound(f"no task {task_id}")
        return doc

    def get_many(self, task_ids: list[str]) -> dict[str, dict]:
        """One query for all the tasks a client tails."""
        docs = self._call(lambda: list(self.tasks.find({"_id": {"$in": task_ids}}, SUMMARY)))
        return {d["_id"]: d for d in docs}

    def find_reusable(self, sha256: str, key: str) -> dict | None:
        """A completed task for the same content and result options: no need to redo it."""
        return self._call(
            self.tasks.find_one,
            {"source.sha256": sha256, "options_key": key, "status": COMPLETED},
            SUMMARY,
            sort=[("created", -1)],
        )

    def list_tasks(self, status: str | None = None, limit: int = 50) -> list[dict]:
        query = {"status": status} if status else {}
        return self._call(
            lambda: list(self.tasks.find(query, SUMMARY).sort("created", -1).limit(limit))
        )

    def cancel(self, task_id: str) -> dict:
        """Queued: cancelled at once. Processing: the worker stops at its next chunk."""
        from pymongo import ReturnDocument

        doc = self._call(
            self.tasks.find_one_and_update,
            {"_id": task_id, "status": {"$in": list(ACTIVE)}},
            {
                "$set": {
                    "status": CANCELLED,
                    "stage": "cancelled",
                    "message": "cancelled by user",
                    "lease_until": None,
                    "updated": now(),
                    "finished": now(),
                }
            },
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            current = self.get(task_id)
            raise TaskStateError(f"task {task_id} is {current['status']}; nothing to cancel")
        return doc

    def retry(self, task_id: str) -> dict:
        """failed/cancelled -> queued with a fresh attempt count (the caller re-sends it)."""
        from pymongo import ReturnDocument

        doc = self._call(
            self.tasks.find_one_and_update,
            {"_id": task_id, "status": {"$in": [FAILED, CANCELLED]}},
            {
                "$set": {
                    "status": QUEUED,
                    "stage": "queued",
                    "progress": 0.0,
                    "attempts": 0,
                    "message": "queued again by retry",
                    "error": None,
                    "worker": None,
                    "lease_until": None,
                    "checkpoint": 0.0,
                    "updated": now(),
                }
            },
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            current = self.get(task_id)
            raise TaskStateError(
                f"task {task_id} is {current['status']}; only failed or cancelled tasks retry"
            )
        return doc

    # --- worker side ------------------------------------------------------------------------------
    def claim(self, task_id: str, worker: str, lease_seconds: float) -> dict | None:
        """queued -> processing, or take over a processing task whose lease ran out."""
        from pymongo import ReturnDocument

        stamp = now()
        return self._call(
            self.tasks.find_one_and_update,
            {
                "_id": task_id,
                "$or": [
                    {"status": QUEUED},
                    {"status": PROCESSING, "lease_until": {"$lt": stamp}},
                ],
            },
            {
                "$set": {
                    "status": PROCESSING,
                    "worker": worker,
                    "stage": "starting",
                    "message": f"claimed by {worker}",
                    "lease_until": stamp + dt.timedelta(seconds=lease_seconds),
                    "started": stamp,
                    "updated": stamp,
                },
                "$inc": {"attempts": 1},
            },
            projection=SUMMARY,
            return_document=ReturnDocument.AFTER,
        )

    def _mine(self, task_id: str, worker: str) -> dict:
        return {"_id": task_id, "status": PROCESSING, "worker": worker}

    def renew(self, task_id: str, worker: str, lease_seconds: float) -> bool:
        """Extend the lease; False when the task is no longer ours (cancelled, taken over)."""
        result = self._call(
            self.tasks.update_one,
            self._mine(task_id, worker),
            {"$set": {"lease_until": now() + dt.timedelta(seconds=lease_seconds)}},
        )
        return result.matched_count == 1

    def progress(
        self,
        task_id: str,
        worker: str,
        *,
        stage: str,
        percent: float,
        message: str,
        checkpoint: float | None = None,
    ) -> bool:
        fields: dict[str, Any] = {
            "stage": stage,
            "progress": round(percent, 1),
            "message": message,
            "updated": now(),
        }
        if checkpoint is not None:
            fields["checkpoint"] = round(checkpoint, 2)
        result = self._call(self.tasks.update_one, self._mine(task_id, worker), {"$set": fields})
        return result.matched_count == 1

    def complete(
        self,
        task_id: str,
        worker: str,
        *,
        outputs: list[str],
        transcript: dict,
        seconds: float,
    ) -> bool:
        """processing (ours) -> completed. False: someone else owns it now; do not ack twice."""
        segments = transcript.pop("segments", [])
        inline = len(json.dumps(segments, default=str)) <= INLINE_SEGMENTS_BYTES
        if not inline:
            self._store_segment_chunks(task_id, segments)
        stamp = now()
        result = self._call(
            self.tasks.update_one,
            self._mine(task_id, worker),
            {
                "$set": {
                    "status": COMPLETED,
                    "stage": "completed",
                    "progress": 100.0,
                    "message": "done",
                    "outputs": outputs,
                    "result": transcript,
                    "error": None,
                    "lease_until": None,
                    "segments": segments
                    if inline
                    else {"collection": "segments", "count": len(segments)},
                    "cost": {"seconds": round(seconds, 2)},
                    "checkpoint": transcript.get("duration", 0.0),
                    "updated": stamp,
                    "finished": stamp,
                }
            },
        )
        return result.matched_count == 1

    def _store_segment_chunks(self, task_id: str, segments: list) -> None:
        self._call(self.segments.delete_many, {"task_id": task_id})
        for n, start in enumerate(range(0, len(segments), SEGMENTS_PER_CHUNK)):
            self._call(
                self.segments.insert_one,
                {
                    "_id": f"{task_id}:{n}",
                    "task_id": task_id,
                    "n": n,
                    "segments": segments[start : start + SEGMENTS_PER_CHUNK],
                },
            )

    def load_segments(self, task_id: str) -> list[dict]:
        doc = self.get(task_id, segments=True)
        segments = doc.get("segments")
        if isinstance(segments, list):
            return segments
        chunks = self._call(lambda: list(self.segments.find({"task_id": task_id}).sort("n", 1)))
        return [s for chunk in chunks for s in chunk["segments"]]

    def fail(self, task_id: str, worker: str, error: str, *, final: bool) -> bool:
        """Record a failed attempt: ``final`` -> failed, else back to queued for SQS to retry."""
        stamp = now()
        fields: dict[str, Any] = {
            "error": error,
            "worker": None,
            "lease_until": None,
            "updated": stamp,
        }
        if final:
            fields.update(status=FAILED, stage="failed", message=error, finished=stamp)
        else:
            fields.update(status=QUEUED, stage="queued", message=f"will retry: {error}")
        result = self._call(self.tasks.update_one, self._mine(task_id, worker), {"$set": fields})
        return result.matched_count == 1

    def release(self, task_id: str, worker: str, reason: str) -> bool:
        """Give a task back (SIGTERM, Spot interruption) without counting it as a failure."""
        result = self._call(
            self.tasks.update_one,
            self._mine(task_id, worker),
            {
                "$set": {
                    "status": QUEUED,
                    "stage": "queued",
                    "worker": None,
                    "lease_until": None,
                    "message": f"released: {reason}",
                    "updated": now(),
                },
                "$inc": {"attempts": -1},
            },
        )
        return result.matched_count == 1

    def mark_dead(self, task_id: str, reason: str) -> bool:
        """A message reached the DLQ: the task failed unless it already ended."""
        stamp = now()
        result = self._call(
            self.tasks.update_one,
            {"_id": task_id, "status": {"$in": list(ACTIVE)}},
            {
                "$set": {
                    "status": FAILED,
                    "stage": "failed",
                    "error": reason,
                    "message": reason,
                    "worker": None,
                    "lease_until": None,
                    "updated": stamp,
                    "finished": stamp,
                }
            },
        )
        return result.matched_count == 1

    # --- worker heartbeats (read by `fleet status`) -----------------------------------------------
    def heartbeat(
        self,
        worker_id: str,
        *,
        instance_id: str | None,
        instance_type: str | None,
        jobs: list[str],
        **extra: Any,
    ) -> None:
        self._call(
            self.workers.update_one,
            {"_id": worker_id},
            {
                "$set": {
                    "instance_id": instance_id,
                    "instance_type": instance_type,
                    "jobs": jobs,
                    "last_seen": now(),
                    "host": socket.gethostname(),
                    **extra,
                }
            },
            upsert=True,
        )

    def remove_worker(self, worker_id: str) -> None:
        self._call(self.workers.delete_one, {"_id": worker_id})

    def list_workers(self) -> list[dict]:
        """Heartbeat documents: ``_id``, ``instance_id``, ``instance_type``, ``jobs``,
        ``last_seen`` (newest first)."""
        return self._call(lambda: list(self.workers.find({}).sort("last_seen", -1)))
