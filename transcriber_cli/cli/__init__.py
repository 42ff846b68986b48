"""The Typer apps. Commands parse options, call the core, and render; no logic lives here."""

from __future__ import annotations

import typer

from transcriber_cli import __version__
from transcriber_cli.cli import (
    config_cmd,
    doctor_cmd,
    fleet_cmd,
    infra_cmd,
    jobs_cmd,
    models_cmd,
    plugins_cmd,
    transcribe,
    worker_cmd,
)

app = typer.Typer(
    name="transcriber",
    help="Speaker-labelled transcripts from recordings, on this machine or a Spot GPU fleet.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"transcriber {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """transcriber: local and remote transcription with speaker labels."""


app.command("transcribe", no_args_is_help=True)(transcribe.transcribe_command)
app.add_typer(config_cmd.app, name="config")
app.add_typer(models_cmd.app, name="models")
app.add_typer(jobs_cmd.app, name="jobs")
app.command("worker")(worker_cmd.worker_command)
app.add_typer(infra_cmd.app, name="infra")
app.add_typer(fleet_cmd.app, name="fleet")
app.command("doctor")(doctor_cmd.doctor_command)
app.add_typer(plugins_cmd.app, name="plugins")

# `transcribe` is the same command as `transcriber transcribe`, as its own program.
transcribe_app = typer.Typer(
    name="transcribe",
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
transcribe_app.command(no_args_is_help=True)(transcribe.transcribe_command)


def main() -> None:
    app()


def transcribe_main() -> None:
    transcribe_app()
