"""MongoDB job documents: the one source of truth about a remote job.

Plain pymongo, so it runs unchanged on MongoDB Atlas. Every state change is a conditional
``find_one_and_update``/``update_one`` filtered on the status (and worker) it expects, so two
workers can never both claim or both complete a job, and a cancelled job cannot be revived
by a late worker. Nothing needs sessions, transactions, change streams or getMore: clients
poll by id. Documents are validated on every read (``store/documents.py``).

Status: queued -> processing -> completed | failed | cancelled (processing -> queued on
release or a retryable failure; failed/cancelled -> queued on ``jobs retry``).

An outage is waited out: every call is retried for up to ``patience`` seconds
(``retry.patiently``), since pymongo itself retries an operation only once. Writes are safe
to repeat: each is conditional on the state it moves from, and the callers treat "already
there" as done.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

from pydantic import ValidationError

from transcriber_cli.config import Settings
from transcriber_cli.errors import ConfigError, InputError, SetupError, Unavailable, UsageError
from transcriber_cli.jobs.results import ResultSummary
from transcriber_cli.retry import patiently
from transcriber_cli.store.documents import (
    ACTIVE,
    OPTIONAL_FIELDS,
    Charge,
    Checkpoint,
    JobDocument,
    JobStatus,
    WorkerRecord,
)

# One attempt waits this long for a reachable server; ``patience`` decides how many attempts.
SELECTION_TIMEOUT_MS = 5_000
WORKER_HISTORY = 20  # workers remembered per job

QUEUED, PROCESSING = JobStatus.QUEUED.value, JobStatus.PROCESSING.value
COMPLETED, FAILED, CANCELLED = (
    JobStatus.COMPLETED.value,
    JobStatus.FAILED.value,
    JobStatus.CANCELLED.value,
)


def now() -> dt.datetime:
    # BSON dates keep milliseconds: round here so a document reads back equal to what was sent.
    stamp = dt.datetime.now(dt.UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def _percent(value: float) -> float:
    """A progress the schema takes (0-100): a worker's estimate can pass 100 where the
    audio is longer than the client's probe said, and a document past it no one can read."""
    return round(min(max(value, 0.0), 100.0), 1)


class JobNotFound(UsageError):
    pass


class JobStateError(UsageError):
    pass


class BadJobDocument(InputError):
    """A stored document that does not fit the schema: no worker can run it."""


class StoreUnavailable(Unavailable):
    """MongoDB did not answer within the patience the caller gave it."""


def _connect(url: str, database: str) -> Any:
    import pymongo
    from pymongo.errors import ConfigurationError, InvalidURI

    try:
        client: Any = pymongo.MongoClient(
            url,
            tz_aware=True,
            appname="transcriber",
            serverSelectionTimeoutMS=SELECTION_TIMEOUT_MS,
            connectTimeoutMS=SELECTION_TIMEOUT_MS,
        )
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        # The message may quote the URL (and its password): keep only the kind of problem.
        kind = type(exc).__name__
        raise ConfigError(f"invalid MongoDB URL ({kind})", hint="check mongodb_url") from None
    return client, client[database]


def _document(raw: dict) -> JobDocument:
    try:
        return JobDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BadJobDocument(
            f"job {raw.get('_id')!s:.40}: invalid document ({where}: {first.get('msg')})"
        ) from None


class JobStore:
    def __init__(self, db: Any, client: Any = None, *, patience: float = 0.0) -> None:
        self.client = client
        self.db = db
        self.jobs = db["jobs"]
        self.workers = db["workers"]
        self.patience = patience  # seconds an outage is waited out, per call

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        from transcriber_cli.aws.secrets import resolve_secret

        url = resolve_secret(settings, "mongodb_url")
        if url is None or not url.get_secret_value():
            raise SetupError(
                "no MongoDB URL configured",
                hint="set TRANSCRIBER_MONGODB_URL or 'transcriber infra secrets set mongodb_url'",
            )
        client, db = _connect(url.get_secret_value(), settings.mongodb_database)
        return cls(db, client, patience=settings.outage_patience)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def _once(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one pymongo call; connection trouble becomes a one-line StoreUnavailable."""
        from pymongo.errors import ConnectionFailure, OperationFailure

        try:
            return fn(*args, **kwargs)
        except ConnectionFailure:
            raise StoreUnavailable(
                "cannot reach MongoDB", hint="check mongodb_url and network access"
            ) from None
        except OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise SetupError("MongoDB refused the credentials in mongodb_url") from None
            raise

    def _call(self, fn: Any, *args: Any, patience: float | None = None, **kwargs: Any) -> Any:
        """``_once``, retried through an outage for ``patience`` (default: the store's)."""
        return patiently(
            lambda: self._once(fn, *args, **kwargs),
            patience=self.patience if patience is None else patience,
            what="MongoDB",
        )

    def _find_and_set(
        self, query: dict, update: dict, patience: float | None = None
    ) -> JobDocument | None:
        from pymongo import ReturnDocument

        update = _unset_empty(update)
        raw = self._call(
            self.jobs.find_one_and_update, query, update,
            return_document=ReturnDocument.AFTER, patience=patience,
        )  # fmt: skip
        return None if raw is None else _document(raw)

    def _set_if(
        self,
        query: dict,
        fields: dict,
        inc: dict | None = None,
        *,
        patience: float | None = None,
    ) -> bool:
        update: dict[str, Any] = {"$set": fields}
        if inc:
            update["$inc"] = inc
        update = _unset_empty(update)
        result = self._call(self.jobs.update_one, query, update, patience=patience)
        return result.matched_count == 1

    def ensure_indexes(self) -> None:
        self._call(self.jobs.create_index, [("status", 1), ("created", -1)])
        self._call(self.jobs.create_index, [("source.sha256", 1), ("options_key", 1)])
        self._call(self.jobs.create_index, [("status", 1), ("finished", -1)])  # last-hour stats
        self._call(self.workers.create_index, [("last_seen", -1)])

    # --- client side ----------------------------------------------------------------------------
    def create(self, doc: JobDocument) -> JobDocument:
        from pymongo.errors import DuplicateKeyError

        try:
            self._call(self.jobs.insert_one, doc.to_mongo())
        except DuplicateKeyError:
            # A retry after a lost reply: the first insert went through (ids are random).
            if self.get(doc.id).created != doc.created:
                raise
        return doc

    def get(self, job_id: str) -> JobDocument:
        raw = self._call(self.jobs.find_one, {"_id": job_id})
        if raw is None:
            raise JobNotFound(f"no job {job_id}")
        return _document(raw)

    def get_many(self, job_ids: list[str]) -> dict[str, JobDocument]:
        """One query for all the jobs a client tails."""
        raws = self._call(lambda: list(self.jobs.find({"_id": {"$in": job_ids}})))
        return {raw["_id"]: _document(raw) for raw in raws}

    def find_reusable(self, sha256: str, key: str) -> JobDocument | None:
        """A completed job for the same content and result options: no need to redo it."""
        raw = self._call(
            self.jobs.find_one,
            {"source.sha256": sha256, "options_key": key, "status": COMPLETED},
            sort=[("created", -1)],
        )
        return None if raw is None else _document(raw)

    def list_jobs(self, status: str | None = None, limit: int = 50) -> list[JobDocument]:
        query = {"status": status} if status else {}
        raws = self._call(lambda: list(self.jobs.find(query).sort("created", -1).limit(limit)))
        return [_document(raw) for raw in raws]

    def cancel(self, job_id: str) -> JobDocument:
        """Queued: cancelled at once. Processing: the worker stops at its next chunk."""
        doc = self._find_and_set(
            {"_id": job_id, "status": {"$in": ACTIVE}}, _cancelled("cancelled by user")
        )
        if doc is None:
            current = self.get(job_id)
            raise JobStateError(f"job {job_id} is {current.status.value}; nothing to cancel")
        return doc

    def unqueue(self, job_id: str, why: str, patience: float | None = None) -> bool:
        """queued -> cancelled, saying ``why``: a job whose message could not be sent. One a
        worker has taken (the message did arrive after all) is left to it."""
        return self._find_and_set({"_id": job_id, "status": QUEUED}, _cancelled(why),
                                  patience=patience) is not None  # fmt: skip

    def retry(self, job_id: str) -> JobDocument:
        """failed/cancelled -> queued with a fresh attempt count (the caller re-sends it)."""
        doc = self._find_and_set(
            {"_id": job_id, "status": {"$in": [FAILED, CANCELLED]}},
            {
                "$set": {
                    "status": QUEUED,
                    "stage": "queued",
                    "progress": 0.0,
                    "attempts": 0,
                    "message": "queued again by retry",
                    "error": None,
                    "worker": None,
                    "gpu": None,
                    "lease_until": None,
                    "checkpoint": Checkpoint().model_dump(),
                    "finished": None,
                    "updated": now(),
                }
            },
        )
        if doc is None:
            current = self.get(job_id)
            raise JobStateError(
                f"job {job_id} is {current.status.value}; only failed or cancelled jobs retry"
            )
        return doc

    # --- worker side ------------------------------------------------------------------------------
    def claim(
        self,
        job_id: str,
        worker: str,
        lease_seconds: float,
        message_id: str | None = None,
        gpu: str | None = None,
    ) -> JobDocument | None:
        """queued -> processing, or take over a processing job whose lease ran out. ``gpu``:
        which of the worker's devices runs it ("cuda:1"), for people and `fleet status`."""
        stamp = now()
        return self._find_and_set(
            {
                "_id": job_id,
                "$or": [
                    {"status": QUEUED},
                    {"status": PROCESSING, "lease_until": {"$lt": stamp}},
                ],
            },
            {
                "$set": {
                    "status": PROCESSING,
                    "worker": worker,
                    "gpu": gpu,
                    "message_id": message_id,
                    "stage": "starting",
                    "message": f"claimed by {worker}",
                    "lease_until": stamp + dt.timedelta(seconds=lease_seconds),
                    "started": stamp,
                    "updated": stamp,
                },
                "$inc": {"attempts": 1},
                "$push": {"workers": {"$each": [worker], "$slice": -WORKER_HISTORY}},
            },
        )

    def _mine(self, job_id: str, worker: str) -> dict:
        return {"_id": job_id, "status": PROCESSING, "worker": worker}

    def renew(self, job_id: str, worker: str, lease_seconds: float, *, patience: float = 0) -> bool:
        """Extend the lease; False when the job is no longer ours (cancelled, taken over).
        By default one attempt: the lease thread tries again at its next beat."""
        until = now() + dt.timedelta(seconds=lease_seconds)
        return self._set_if(self._mine(job_id, worker), {"lease_until": until}, patience=patience)

    def progress(
        self,
        job_id: str,
        worker: str,
        *,
        stage: str,
        percent: float,
        message: str,
        checkpoint: Checkpoint | None = None,
        patience: float | None = None,
    ) -> bool:
        fields: dict[str, Any] = {
            "stage": stage,
            "progress": _percent(percent),
            "message": message,
            "updated": now(),
        }
        if checkpoint is not None:
            fields["checkpoint"] = checkpoint.model_dump()
        return self._set_if(self._mine(job_id, worker), fields, patience=patience)

    def complete(
        self,
        job_id: str,
        worker: str,
        *,
        outputs: list[str],
        result: ResultSummary,
        seconds: float,
        checkpoint: Checkpoint,
        charge: Charge | None = None,
    ) -> bool:
        """processing (ours) -> completed. False: someone else owns it now; do not ack twice.
        True also when a retry finds our own completion already there. ``charge`` (this
        attempt's cost) is added in the same update, so a completed job shows its cost."""
        stamp = now()
        charge = charge or Charge(seconds)
        fields, inc = charge.update()
        done = self._set_if(
            self._mine(job_id, worker),
            {
                "status": COMPLETED,
                "stage": "completed",
                "progress": 100.0,
                "message": "done",
                "outputs": outputs,
                "result": result.model_dump(mode="json"),
                "error": None,
                "lease_until": None,
                "cost.seconds": round(seconds, 2),
                "cost.audio_seconds": round(result.duration or 0.0, 3),
                **fields,
                "checkpoint": checkpoint.model_dump(),
                "updated": stamp,
                "finished": stamp,
            },
            inc,
        )
        if done:
            return True
        current = self.get(job_id)
        return current.status is JobStatus.COMPLETED and current.worker == worker

    def charge(self, job_id: str, charge: Charge) -> None:
        """Add an attempt that did not complete the job to its cost (failed, released, lost
        or cancelled: the machine's time was spent all the same)."""
        fields, inc = charge.update()
        self._set_if({"_id": job_id}, fields, inc, patience=0)

    def fail(self, job_id: str, worker: str, error: str, *, final: bool) -> bool:
        """Record a failed attempt: ``final`` -> failed, else back to queued for SQS to retry
        (from its checkpoint, which stays)."""
        stamp = now()
        fields: dict[str, Any] = {
            "error": error,
            "worker": None,
            "gpu": None,
            "lease_until": None,
            "updated": stamp,
        }
        if final:
            fields.update(status=FAILED, stage="failed", message=error, finished=stamp)
        else:
            fields.update(status=QUEUED, stage="queued", message=f"will retry: {error}")
        return self._set_if(self._mine(job_id, worker), fields)

    def release(self, job_id: str, worker: str, reason: str, *, percent: float = 0.0) -> bool:
        """Give a job back (SIGTERM, Spot interruption) without counting it as a failure;
        its progress drops to what the checkpoint keeps (``percent``)."""
        return self._set_if(
            self._mine(job_id, worker),
            {
                "status": QUEUED,
                "stage": "queued",
                "progress": _percent(percent),
                "worker": None,
                "gpu": None,
                "lease_until": None,
                "message": f"released: {reason}",
                "updated": now(),
            },
            inc={"attempts": -1},
        )

    def save_checkpoint(
        self, job_id: str, worker: str, checkpoint: Checkpoint, *, percent: float, message: str
    ) -> bool:
        """Record finished windows (their segments are already in S3)."""
        return self.progress(
            job_id,
            worker,
            stage="transcribing",
            percent=percent,
            message=message,
            checkpoint=checkpoint,
        )

    def mark_dead(self, job_id: str, reason: str) -> bool:
        """A message reached the DLQ: the job failed unless it ended or a worker holds a
        live lease on it (that worker's own message carries it to the end)."""
        stamp = now()
        return self._set_if(
            {
                "_id": job_id,
                "$or": [
                    {"status": QUEUED},
                    {"status": PROCESSING, "lease_until": {"$lt": stamp}},
                    {"status": PROCESSING, "lease_until": None},
                ],
            },
            {
                "status": FAILED,
                "stage": "failed",
                "error": reason,
                "message": reason,
                "worker": None,
                "gpu": None,
                "lease_until": None,
                "updated": stamp,
                "finished": stamp,
            },
        )

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
            patience=0,  # the next beat tries again
        )

    def remove_worker(self, worker_id: str) -> None:
        self._call(self.workers.delete_one, {"_id": worker_id}, patience=0)

    def list_workers(self) -> list[WorkerRecord]:
        """Live heartbeats, newest first. A worker killed without a clean exit stops beating:
        its record is dropped once it is older than three of its own intervals."""
        raws = self._call(lambda: list(self.workers.find({}).sort("last_seen", -1)))
        records = [WorkerRecord.model_validate(raw) for raw in raws]
        stamp = now()
        dead = [r for r in records if r.last_seen < stamp - r.stale_after]
        for record in dead:  # only if it has not beaten since it was read
            self._call(self.workers.delete_one, {"_id": record.id, "last_seen": record.last_seen})
        return [r for r in records if r not in dead]


def _cancelled(message: str) -> dict:
    stamp = now()
    return {"$set": {"status": CANCELLED, "stage": "cancelled", "message": message,
                     "lease_until": None, "updated": stamp, "finished": stamp}}  # fmt: skip


def _unset_empty(update: dict[str, Any]) -> dict[str, Any]:
    """An update that removes an optional field (``documents.OPTIONAL_FIELDS``) it would set
    to None: a one-device worker never leaves it in a document, so 0.1.0 clients (which
    refuse fields they do not know) still read its jobs."""
    fields = update.get("$set") or {}
    empty = [k for k in OPTIONAL_FIELDS if k in fields and fields[k] is None]
    if not empty:
        return update
    kept = {k: v for k, v in fields.items() if k not in empty}
    unset = {**update.get("$unset", {}), **dict.fromkeys(empty, "")}
    return {**update, "$set": kept, "$unset": unset}
