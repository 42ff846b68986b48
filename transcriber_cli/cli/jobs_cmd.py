"""``transcriber jobs list|status|wait|cancel|retry|fetch``: remote jobs by task id."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from transcriber_cli.cli.errors import handle_errors, is_interactive, print_json_line, stderr

if TYPE_CHECKING:
    from transcriber_cli.remote.client import RemoteClient
    from transcriber_cli.store.documents import JobDocument
    from transcriber_cli.store.mongo import JobStore

app = typer.Typer(help="Inspect and manage remote transcription jobs.", no_args_is_help=True)

# The options every jobs command takes, as types, so a signature names each in a few words.
JobId = Annotated[str, typer.Argument(help="Job id.")]
StackName = Annotated[str | None, typer.Option("--stack", help="Stack name.")]
Region = Annotated[str | None, typer.Option("--region", help="AWS region.")]
Profile = Annotated[str | None, typer.Option("--profile", help="AWS profile.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


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
    cost = f"${doc.cost.usd:.4f}" if doc.cost.usd_per_hour else "-"
    return (f"{doc.id}  {doc.status.value:<10} {doc.progress:>5.1f}%  {cost:>9}  "
            f"{doc.source.name}{extra}")  # fmt: skip


def _show(docs: Iterable[JobDocument], json_output: bool) -> None:
    for doc in docs:
        if json_output:
            _emit(doc)
        else:
            typer.echo(_line(doc))


def _one_job_command(
    name: str,
    help_text: str,
    act: Callable[[RemoteClient, str], JobDocument],
    show: Callable[[JobDocument], None],
) -> None:
    """Register ``jobs NAME JOB_ID``: one client call that returns the job, then the job as
    JSON with --json, else ``show`` for people."""

    @app.command(name, help=help_text)
    def command(
        job_id: JobId,
        stack: StackName = None, region: Region = None, profile: Profile = None,
        json_output: Json = False,
    ) -> None:  # fmt: skip
        with handle_errors():
            with _client(stack, region, profile) as client:
                doc = act(client, job_id)
            if json_output:
                _emit(doc)
            else:
                show(doc)


@app.command("list")
def list_command(
    status: str | None = typer.Option(None, "--status", help="Only jobs in this status."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False,
) -> None:  # fmt: skip
    """List recent jobs, newest first, then (on stderr) what ended in the last hour."""
    with handle_errors():
        from transcriber_cli.errors import UsageError
        from transcriber_cli.store.documents import JobStatus

        names = [s.value for s in JobStatus]
        if status and status not in names:
            raise UsageError(f"unknown status {status!r}; choose from " + ", ".join(names))
        with _client(stack, region, profile) as client:
            docs = client.jobs.list_jobs(status, limit)
            # Only for people: --json stdout stays one job document per line.
            summary = None if json_output else _last_hour(client.jobs)
        _show(docs, json_output)
        if summary:
            stderr.print(summary, markup=False)


def _last_hour(store: JobStore) -> str | None:
    """The summary under ``jobs list``; the listing stands without it."""
    from transcriber_cli.cli.cloud_render import last_hour_line
    from transcriber_cli.store.stats import recent

    try:
        return last_hour_line(recent(store).as_dict())
    except Exception:
        logging.getLogger(__name__).debug("last-hour summary unavailable", exc_info=True)
        return None


def resume_line(doc: JobDocument) -> str:
    """How far the job got and who worked on it, for people."""
    c, total = doc.checkpoint, doc.source.duration
    done = f"{c.seconds:.0f} of {total:.0f} s checkpointed ({c.windows} window(s))"
    if c.diarized:
        done += ", speakers found"
    workers = " -> ".join(doc.workers) or "none yet"
    return f"{done}; {c.decoded_seconds:.0f} s decoded in {doc.attempts} attempt(s); {workers}"


def _print_fields(doc: JobDocument) -> None:
    for key, value in doc.public().items():
        if key != "schema":
            typer.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    typer.echo(f"resume: {resume_line(doc)}")


_one_job_command(
    "status",
    "Show one job: status, stage, progress, checkpoint, attempts, workers, error, outputs.",
    lambda client, job_id: client.jobs.get(job_id),
    _print_fields,
)


@app.command("wait")
def wait_command(
    job_ids: list[str] = typer.Argument(..., help="Job ids."),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after N seconds."),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False,
) -> None:  # fmt: skip
    """Wait for jobs to end, with a progress bar each; exit 1 if any failed or was cancelled."""
    with handle_errors():
        from transcriber_cli.cli.interrupt import stops_interrupt
        from transcriber_cli.cli.remote_view import RemoteView
        from transcriber_cli.errors import ExitCode, interrupt_exit_code
        from transcriber_cli.remote.run import DetachedError

        live = is_interactive() and not json_output
        with (
            stops_interrupt(),  # SIGTERM and SIGHUP stop waiting as Ctrl-C does
            _client(stack, region, profile) as client,
            RemoteView(live=live, json_lines=False, quiet=False) as view,
        ):
            try:
                final = client.wait(job_ids, on_update=view.update, timeout=timeout)
            except KeyboardInterrupt as exc:
                detached = DetachedError(
                    "stopped waiting; the jobs keep running remotely",
                    hint="run 'transcriber jobs wait' again",
                )
                detached.exit_code = interrupt_exit_code(exc)
                raise detached from None
        _show((final[job_id] for job_id in job_ids), json_output)
        failed = any(doc.status.value != "completed" for doc in final.values())
        raise typer.Exit(int(ExitCode.FAILED if failed else ExitCode.OK))


_one_job_command(
    "cancel",
    "Cancel a queued or running job (a running one stops at its next chunk).",
    lambda client, job_id: client.cancel(job_id),
    lambda doc: stderr.print(f"cancelled {doc.id}"),
)
_one_job_command(
    "retry",
    "Queue a failed or cancelled job again.",
    lambda client, job_id: client.retry(job_id),
    lambda doc: stderr.print(f"queued {doc.id} again"),
)


@app.command("fetch")
def fetch_command(
    job_id: JobId,
    output_dir: Path = typer.Option(Path("."), "-o", "--output-dir", help="Where outputs go."),
    formats: str | None = typer.Option(
        None, "-f", "--format", help="Formats to fetch (default: those submitted)."
    ),
    stack: StackName = None, region: Region = None, profile: Profile = None,
    json_output: Json = False,
) -> None:  # fmt: skip
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
