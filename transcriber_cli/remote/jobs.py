"""Core of ``transcriber jobs fetch``: a finished job's outputs by id."""

from __future__ import annotations

from pathlib import Path

from transcriber_cli.errors import OutputError, os_cause
from transcriber_cli.formats.registry import parse_formats
from transcriber_cli.jobs.outputs import output_paths, safe_stem, write_outputs
from transcriber_cli.jobs.results import FileResult, ResultSummary
from transcriber_cli.remote.client import RemoteClient


def fetch_job(
    client: RemoteClient, job_id: str, output_dir: Path, formats: str | None
) -> FileResult:
    """Write ``DIR/NAME.EXT`` (NAME: the input's stem) for the formats asked for at submit,
    or ``formats``."""
    doc = client.jobs.get(job_id)
    chosen = parse_formats(formats or ",".join(doc.formats or ["all"]))
    # The source name comes from the task document: it must not steer where files go.
    stem = safe_stem(doc.source.stem, job_id, chosen)
    paths = output_paths((output_dir / stem).absolute(), chosen)
    texts = client.fetch_texts(doc, chosen)
    try:
        write_outputs(paths, texts)
    except OSError as exc:
        raise OutputError(
            f"job {job_id}: cannot write its outputs in {output_dir}: {os_cause(exc)}"
        ) from None
    summary = doc.result or ResultSummary()
    return FileResult.done(doc.source.name, [str(p) for p in paths], summary, job_id=job_id)
