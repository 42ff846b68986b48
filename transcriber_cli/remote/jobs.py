"""Core of ``transcriber jobs``: plain data for rendering, and fetch by id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from transcriber_cli.formats import parse_formats
from transcriber_cli.remote.client import RemoteClient
from transcriber_cli.remote.run import RemoteResult, result_from_task

_FIELDS = (
    "status",
    "stage",
    "progress",
    "message",
    "source",
    "attempts",
    "worker",
    "lease_until",
    "checkpoint",
    "error",
    "outputs",
    "cost",
    "options",
    "formats",
    "created",
    "updated",
    "started",
    "finished",
)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def job_json(doc: dict) -> dict:
    """A task document as JSON-safe data (no segments; they can be large)."""
    data = {"task_id": doc["_id"]}
    data.update({k: _plain(doc.get(k)) for k in _FIELDS})
    result = doc.get("result") or {}
    data["result"] = (
        {k: result.get(k) for k in ("language", "duration", "speakers", "diarization")}
        if result
        else None
    )
    return data


def fetch_job(
    client: RemoteClient, task_id: str, output_dir: Path, formats: str | None
) -> RemoteResult:
    doc = client.tasks.get(task_id)
    chosen = parse_formats(formats or ",".join(doc.get("formats") or ["all"]))
    name = Path(doc.get("source", {}).get("name") or task_id)
    base = (output_dir / name.stem).absolute()
    outputs = client.fetch(doc, base, chosen)
    return RemoteResult(result_from_task(name, doc, outputs), task_id)
