"""What happened to each input of a run, and the run's exit code.

One record per input, the same for local and remote runs; with ``--json`` each becomes one
``transcriber.result/1`` line whose keys a contract test pins (docs/usage.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from transcriber_cli.errors import ExitCode
from transcriber_cli.transcript import Transcript

RESULT_SCHEMA = "transcriber.result/1"
# How it was made.
RUNTIME_KEYS = (
    "device",
    "gpu",
    "gpus",
    "compute_type",
    "encoder",
    "decoder",
    "batch_size",
    "windows_in_flight",
    "window_seconds",
    "decoder_lanes",
)


class Status(str, Enum):
    DONE = "done"  # outputs written
    SKIPPED = "skipped"  # outputs already there (``reason`` says why)
    IGNORED = "ignored"  # not media, found in a folder
    FAILED = "failed"  # ``error`` is the one-line cause
    QUEUED = "queued"  # --remote --no-wait: submitted, not finished yet


class ResultSummary(BaseModel):
    """The facts about a finished transcript a result line reports (not the transcript)."""

    model_config = ConfigDict(extra="ignore")

    duration: float | None = None
    language: str | None = None
    speakers: list[str] = Field(default_factory=list)
    diarization: dict[str, Any] = Field(default_factory=dict)
    runtime: dict[str, Any] = Field(default_factory=dict)
    quality: list[str] | None = None  # the quality report's flags (None: older workers)

    @classmethod
    def of(cls, transcript: Transcript, stages: dict[str, float] | None = None) -> ResultSummary:
        """``stages``: the seconds each step took, where the run measured them."""
        from transcriber_cli.quality import assess, configured

        ran = {k: transcript.options[k] for k in RUNTIME_KEYS if k in transcript.options}
        return cls(
            duration=transcript.duration,
            language=transcript.language,
            speakers=list(transcript.speakers),
            diarization=dict(transcript.diarization),
            runtime={**ran, "stages": stages} if stages is not None else ran,
            quality=assess(transcript, configured()).flags,
        )


@dataclass
class FileResult:
    path: str
    status: Status
    outputs: list[str] = field(default_factory=list)
    duration: float | None = None
    language: str | None = None
    speakers: list[str] = field(default_factory=list)
    diarization: str | None = None  # "done", or why it was skipped
    error: str | None = None
    reason: str | None = None  # why skipped or ignored
    job_id: str | None = None  # remote runs: the job that did (or will do) the work
    reused: bool = False  # remote runs: an identical finished job was reused
    resumed_from: float | None = None  # audio seconds an interrupted earlier run had done
    runtime: dict[str, Any] | None = None  # device, compute type, encoder, batch size, stages
    cost: dict[str, Any] | None = None  # remote runs: what the job cost (store.documents.Cost)
    quality: list[str] | None = None  # quality report flags: what a person should check

    @classmethod
    def done(cls, path: str, outputs: Sequence[str], summary: ResultSummary, **remote: Any):
        diar = summary.diarization
        return cls(
            path,
            Status.DONE,
            list(outputs),
            duration=summary.duration,
            language=summary.language,
            speakers=list(summary.speakers),
            diarization="done" if diar.get("status") == "done" else diar.get("reason"),
            runtime=summary.runtime or None,
            quality=summary.quality,
            **remote,
        )

    @classmethod
    def failed(cls, path: str, error: str, **remote: Any) -> FileResult:
        """``error`` names the file first, once."""
        message = error if error.startswith(f"{path}: ") else f"{path}: {error}"
        return cls(path, Status.FAILED, error=message, **remote)

    def to_json(self, *, remote: bool = False) -> dict[str, Any]:
        data = {"schema": RESULT_SCHEMA, **asdict(self), "status": self.status.value}
        if not remote:
            del data["job_id"], data["reused"]
        if self.resumed_from is None:  # present only when an earlier run's windows were reused
            del data["resumed_from"]
        if self.runtime is None:  # present for files transcribed by this run or its job
            del data["runtime"]
        if self.cost is None:  # present for remote jobs that ran
            del data["cost"]
        if self.quality is None:  # the quality flags of a transcribed file, [] when none
            del data["quality"]
        return data


def clock(seconds: float) -> str:
    """``h:mm:ss``, for lengths and positions in messages (here, not in ``inputs``: the CLI
    imports this module at start-up and must not pull in media tools)."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def quality_lines(results: Sequence[FileResult]) -> list[str]:
    """One line per file the quality report flagged, for the run summary."""
    return [f"check {r.path}: {', '.join(r.quality)}" for r in results if r.quality]


def exit_code(results: Sequence[FileResult]) -> ExitCode:
    return ExitCode.FAILED if any(r.status is Status.FAILED for r in results) else ExitCode.OK
