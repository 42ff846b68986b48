"""``transcriber jobs list|status|wait|cancel|retry|fetch``: remote jobs by task id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from transcriber_cli.cli.errors import handle_errors, is_interactive, print_json_line, stderr

if TYPE_CHECKING:
    from transcriber_cli.remote.client import RemoteClient
    from transcriber_cli.store.documents import JobDocument

app = typer.Typer(help="Inspect and manage remote transcription jobs.", no_args_is_help=True)

_STACK = typer.Option(None, "--stack", help="Stack name.")
_REGION = typer.Option(None, "--region", help="AWS region.")
_PROFILE = typer.Option(None, "--profile", help="AWS profile.")
_JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _client(stack: str | None, region: str | None, profile: str | None) -> RemoteClient:
    from transcriber_cli.aws.naming import check_stack
    from transcriber_cli.config import load_settings
    from transcriber_cli.remote.client import RemoteClient

    settings = load_settings(
        stack=check_stack(stack) if stack else None, region=region, profile=profile
    )
    return RemoteClient(settings)


def _emit(doc: JobDocument) -> None:
    print_json_line(doc.public())


def _line(doc: JobDocument) -> str:
    extra = f"  {doc.error}" if doc.error and doc.status.value != "completed" else ""
    return f"{doc.id}  {doc.status.value:<10} {doc.progress:>5.1f}%  {doc.source.name}{extra}"


@app.command("list")
def list_command(
    status: str | None = typer.Option(None, "--status", help="Only jobs in this status."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """List recent jobs, newest first."""
    with handle_errors():
        from transcriber_cli.errors import UsageError
        from transcriber_cli.store.documents import JobStatus

        names = [s.value for s in JobStatus]
        if status and status not in names:
            raise UsageError(f"unknown status {status!r}; choose from " + ", ".join(names))
        with _client(stack, region, profile) as client:
            docs = client.jobs.list_jobs(status, limit)
        for doc in docs:
            if json_output:
                _emit(doc)
            else:
                typer.echo(_line(doc))


@app.command("status")
def status_command(
    job_id: str = typer.Argument(..., help="Job id."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Show one job: status, stage, progress, attempts, error, outputs."""
    with handle_errors():
        with _client(stack, region, profile) as client:
            doc = client.jobs.get(job_id)
        if json_output:
            _emit(doc)
            return
        for key, value in doc.public().items():
            if key != "schema":
                typer.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")


@app.command("wait")
def wait_command(
    job_ids: list[str] = typer.Argument(..., help="Job ids."),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after N seconds."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Wait for jobs to end, with a progress bar each; exit 1 if any failed or was cancelled."""
    with handle_errors():
        from transcriber_cli.cli.remote_view import RemoteView
        from transcriber_cli.errors import ExitCode
        from transcriber_cli.remote.run import DetachedError

        live = is_interactive() and not json_output
        with (
            _client(stack, region, profile) as client,
            RemoteView(live=live, json_lines=False, quiet=False) as view,
        ):
            try:
                final = client.wait(job_ids, on_update=view.update, timeout=timeout)
            except KeyboardInterrupt:
                raise DetachedError(
                    "stopped waiting; the jobs keep running remotely",
                    hint="run 'transcriber jobs wait' again",
                ) from None
        for job_id in job_ids:
            doc = final[job_id]
            if json_output:
                _emit(doc)
            else:
                typer.echo(_line(doc))
        failed = any(doc.status.value != "completed" for doc in final.values())
        raise typer.Exit(int(ExitCode.FAILED if failed else ExitCode.OK))


@app.command("cancel")
def cancel_command(
    job_id: str = typer.Argument(..., help="Job id."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Cancel a queued or running job (a running one stops at its next chunk)."""
    with handle_errors():
        with _client(stack, region, profile) as client:
            doc = client.cancel(job_id)
        if json_output:
            _emit(doc)
        else:
            stderr.print(f"cancelled {job_id}")


@app.command("retry")
def retry_command(
    job_id: str = typer.Argument(..., help="Job id."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Queue a failed or cancelled job again."""
    with handle_errors():
        with _client(stack, region, profile) as client:
            doc = client.retry(job_id)
        if json_output:
            _emit(doc)
        else:
            stderr.print(f"queued {job_id} again")


@app.command("fetch")
def fetch_command(
    job_id: str = typer.Argument(..., help="Job id."),
    output_dir: Path = typer.Option(Path("."), "-o", "--output-dir", help="Where outputs go."),
    formats: str | None = typer.Option(
        None, "-f", "--format", help="Formats to fetch (default: those asked for at submit)."
    ),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Download a completed job's outputs as NAME.EXT (NAME = the input's file name stem)."""
    with handle_errors():
        from transcriber_cli.remote.jobs import fetch_job

        with _client(stack, region, profile) as client:
            result = fetch_job(client, job_id, output_dir, formats)
        if json_output:
            print_json_line(result.to_json(remote=True))
        else:
            for out in result.outputs:
                typer.echo(out)
