"""``transcriber jobs list|status|wait|cancel|retry|fetch``: remote jobs by task id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from transcriber_cli.cli.errors import handle_errors, is_interactive, print_json_line, stderr

if TYPE_CHECKING:
    from transcriber_cli.remote.client import RemoteClient

app = typer.Typer(help="Inspect and manage remote transcription jobs.", no_args_is_help=True)

JOB_SCHEMA = "transcriber.job/1"
_STACK = typer.Option(None, "--stack", help="Stack name.")
_REGION = typer.Option(None, "--region", help="AWS region.")
_PROFILE = typer.Option(None, "--profile", help="AWS profile.")
_JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _client(stack: str | None, region: str | None, profile: str | None) -> RemoteClient:
    from transcriber_cli.cloud.naming import check_stack
    from transcriber_cli.config import load_settings
    from transcriber_cli.remote.client import RemoteClient

    settings = load_settings(
        stack=check_stack(stack) if stack else None, region=region, profile=profile
    )
    return RemoteClient(settings)


def _emit(doc: dict) -> None:
    from transcriber_cli.remote.jobs import job_json

    typer.echo(json.dumps({"schema": JOB_SCHEMA, **job_json(doc)}, ensure_ascii=False))


def _line(doc: dict) -> str:
    source = doc.get("source", {}).get("name", "")
    extra = f"  {doc['error']}" if doc.get("error") and doc["status"] != "completed" else ""
    return f"{doc['_id']}  {doc['status']:<10} {doc.get('progress') or 0:>5.1f}%  {source}{extra}"


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
        from transcriber_cli.remote.tasks import ACTIVE, TERMINAL

        if status and status not in (*ACTIVE, *TERMINAL):
            raise UsageError(
                f"unknown status {status!r}; choose from " + ", ".join((*ACTIVE, *TERMINAL))
            )
        with _client(stack, region, profile) as client:
            docs = client.tasks.list_tasks(status, limit)
        for doc in docs:
            if json_output:
                _emit(doc)
            else:
                typer.echo(_line(doc))


@app.command("status")
def status_command(
    task_id: str = typer.Argument(..., help="Job id."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Show one job: status, stage, progress, attempts, error, outputs."""
    with handle_errors():
        with _client(stack, region, profile) as client:
            doc = client.tasks.get(task_id)
        if json_output:
            _emit(doc)
            return
        from transcriber_cli.remote.jobs import job_json

        for key, value in job_json(doc).items():
            typer.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")


@app.command("wait")
def wait_command(
    task_ids: list[str] = typer.Argument(..., help="Job ids."),
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
                final = client.wait(task_ids, on_update=view.update, timeout=timeout)
            except KeyboardInterrupt:
                raise DetachedError(
                    "stopped waiting; the jobs keep running remotely",
                    hint="run 'transcriber jobs wait' again",
                ) from None
        for task_id in task_ids:
            doc = final[task_id]
            if json_output:
                _emit(doc)
            else:
                typer.echo(_line(doc))
        failed = any(doc["status"] != "completed" for doc in final.values())
        raise typer.Exit(int(ExitCode.FAILED if failed else ExitCode.OK))


@app.command("cancel")
def cancel_command(
    task_id: str = typer.Argument(..., help="Job id."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Cancel a queued or running job (a running one stops at its next chunk)."""
    with handle_errors():
        with _client(stack, region, profile) as client:
            doc = client.cancel(task_id)
        if json_output:
            _emit(doc)
        else:
            stderr.print(f"cancelled {task_id}")


@app.command("retry")
def retry_command(
    task_id: str = typer.Argument(..., help="Job id."),
    stack: str | None = _STACK,
    region: str | None = _REGION,
    profile: str | None = _PROFILE,
    json_output: bool = _JSON,
) -> None:
    """Queue a failed or cancelled job again."""
    with handle_errors():
        with _client(stack, region, profile) as client:
            doc = client.retry(task_id)
        if json_output:
            _emit(doc)
        else:
            stderr.print(f"queued {task_id} again")


@app.command("fetch")
def fetch_command(
    task_id: str = typer.Argument(..., help="Job id."),
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
            result = fetch_job(client, task_id, output_dir, formats)
        if json_output:
            print_json_line(result.to_json())
        else:
            for out in result.file.outputs:
                typer.echo(out)
