"""Core of ``transcriber jobs fetch``: a finished job's outputs by id."""

from __future__ import annotations

from pathlib import Path

from transcriber_cli.formats.registry import parse_formats
from transcriber_cli.jobs.outputs import output_paths, write_outputs
from transcriber_cli.jobs.results import FileResult, ResultSummary
from transcriber_cli.remote.client import RemoteClient


def fetch_job(
    client: RemoteClient, job_id: str, output_dir: Path, formats: str | None
) -> FileResult:
    """Write ``DIR/NAME.EXT`` (NAME: the input's stem) for the formats asked for at submit,
    or ``formats``."""
    doc = client.jobs.get(job_id)
    chosen = parse_formats(formats or ",".join(doc.formats or ["all"]))
    stem = doc.source.stem or job_id
    paths = output_paths((output_dir / stem).absolute(), chosen)
    write_outputs(paths, client.fetch_texts(doc, chosen))
    summary = doc.result or ResultSummary()
    return FileResult.done(doc.source.name, [str(p) for p in paths], summary, job_id=job_id)
