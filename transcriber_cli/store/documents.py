"""Typed job documents (MongoDB ``jobs``) and worker heartbeats (``workers``).

A document holds a job's state, progress and pointers: the audio and output keys in S3. The
transcript itself lives once, in S3 (the exports). Documents come from the store, which
clients and workers share, so every read is validated: a document that does not fit is
refused, not half-used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from transcriber_cli.jobs.options import JobOptions
from transcriber_cli.jobs.results import ResultSummary

JOB_SCHEMA = "transcriber.job/1"


class JobStatus(str, Enum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


ACTIVE = [s.value for s in JobStatus if not s.ended]


class Source(BaseModel):
    """The original input (which never leaves the client's machine)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=1024)
    duration: float = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    has_video: bool = False

    @property
    def stem(self) -> str:
        """The name outputs are called after: the file name without folders or extension
        (empty when nothing is left of it, e.g. ``.`` or ``..``)."""
        return PurePath(PurePath(self.name).name).stem.strip(". ")


class Audio(BaseModel):
    """The uploaded audio. Its key is ``uploads/{job id}.mp3`` by construction: a worker
    derives it from the id and never takes an object key from a document."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class Checkpoint(BaseModel):
    """How far a job got: the windows no later attempt redoes. Their segments live in S3
    (``checkpoint_key``); the document holds what ``jobs status`` shows."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=0.0, ge=0)  # audio transcribed and saved (to the last cut)
    windows: int = Field(default=0, ge=0)
    diarized: bool = False  # the speaker turns of the whole file are saved too
    decoded_seconds: float = Field(default=0.0, ge=0)  # audio decoded by all attempts together
    updated: dt.datetime | None = None


class Cost(BaseModel):
    """What a job cost. Every attempt that ends on a worker adds its wall time (a SIGKILLed
    one cannot, so a job interrupted that way costs more than it says)."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = 0.0  # worker wall time of the attempt that completed the job
    audio_seconds: float = Field(default=0.0, ge=0)  # the decoded audio (completed jobs)
    # the device time of every attempt: its wall time, or its share where jobs ran at once
    gpu_seconds: float = Field(default=0.0, ge=0)
    usd: float = Field(default=0.0, ge=0)  # estimated: gpu_seconds x its machine's rate
    instance_type: str | None = None  # of the last attempt
    usd_per_hour: float | None = None  # its rate; None: unknown (not on EC2), usd stays 0
    price_basis: str | None = None  # "Spot price in us-east-1a", or how it was estimated


@dataclass(frozen=True)
class Charge:
    """One attempt's share of a job's cost: its wall time on a machine of known rate, and
    the device time it had (``shared``: jobs at once on one GPU split its time; None, the
    wall time), which is what it pays for and adds to ``gpu_seconds``."""

    seconds: float
    instance_type: str | None = None
    usd_per_hour: float | None = None
    basis: str | None = None
    shared: float | None = None

    def update(self) -> tuple[dict[str, Any], dict[str, float]]:
        """The ``$set`` and ``$inc`` parts of the update that adds it to ``cost``."""
        fields = {
            "cost.instance_type": self.instance_type,
            "cost.usd_per_hour": self.usd_per_hour,
            "cost.price_basis": self.basis,
        }
        paid = self.seconds if self.shared is None else self.shared
        usd = paid * self.usd_per_hour / 3600 if self.usd_per_hour else 0.0
        return fields, {"cost.gpu_seconds": round(paid, 3), "cost.usd": usd}


# Fields newer than 0.1.0, present in a document only while they hold a value.
OPTIONAL_FIELDS = ("gpu",)


class JobDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)

    id: str = Field(alias="_id", pattern=r"^[0-9a-f]{32}$")
    status: JobStatus = JobStatus.QUEUED
    stage: str = "queued"
    progress: float = Field(default=0.0, ge=0, le=100)
    message: str = "waiting for a worker"
    options: JobOptions
    options_key: str
    formats: list[str] = Field(default_factory=list)  # what `jobs fetch` downloads by default
    source: Source
    audio: Audio
    outputs: list[str] = Field(default_factory=list)  # S3 keys under output/{job}/
    result: ResultSummary | None = None
    attempts: int = 0
    worker: str | None = None
    gpu: str | None = Field(default=None, max_length=40)  # worker's device running it: cuda:1
    workers: list[str] = Field(default_factory=list)  # every worker that claimed it, in order
    message_id: str | None = None  # the SQS message its current worker holds
    lease_until: dt.datetime | None = None
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    error: str | None = None
    cost: Cost = Field(default_factory=Cost)
    created: dt.datetime
    updated: dt.datetime
    started: dt.datetime | None = None
    finished: dt.datetime | None = None

    @field_validator("checkpoint", mode="before")
    @classmethod
    def _legacy_checkpoint(cls, value: Any) -> Any:
        # Before resume, ``checkpoint`` was a number of seconds with nothing saved behind it.
        return {} if isinstance(value, int | float) else value

    def to_mongo(self) -> dict[str, Any]:
        # An optional field is stored only with a value: clients and workers of 0.1.0 refuse
        # fields they do not know, so a document without it reads everywhere.
        empty = {k for k in OPTIONAL_FIELDS if getattr(self, k) is None}
        return self.model_dump(by_alias=True, mode="python", exclude=empty)

    def public(self) -> dict[str, Any]:
        """JSON-safe, for ``jobs status --json``: every field, the id as ``job_id``."""
        data = self.model_dump(mode="json", exclude={"id"})
        return {"schema": JOB_SCHEMA, "job_id": self.id, **data}


class WorkerRecord(BaseModel):
    """A worker's heartbeat, what ``fleet status`` shows."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    instance_id: str | None = None
    instance_type: str | None = None
    host: str | None = None
    pid: int | None = None
    version: str | None = None
    concurrency: int | None = None
    heartbeat_seconds: float = 15.0
    draining: bool = False  # a rebalance recommendation came: it takes no new jobs
    problem: str | None = None  # what keeps it from doing any job, e.g. a missing model
    jobs: list[str] = Field(default_factory=list)
    gpus: dict[str, list[str]] = Field(default_factory=dict)  # device label -> its jobs
    last_seen: dt.datetime

    @property
    def gpus_busy(self) -> int:
        return sum(1 for jobs in self.gpus.values() if jobs)

    @property
    def stale_after(self) -> dt.timedelta:
        """No beat for this long: the worker is gone (killed, or its machine reclaimed)."""
        return dt.timedelta(seconds=max(3 * self.heartbeat_seconds, 30))
