"""The Typer apps. Commands parse options, call the core, and render; no logic lives here."""

from __future__ import annotations

import typer

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
from transcriber_cli.cli.first_run import TranscribeCommand, show_version
from transcriber_cli.cli.process_exit import run_then_exit

# Plain click help, not Rich panels: at 80 columns Rich's option table left a 15-character
# help column (one or two words a line); click's two columns keep help 48 wide.
# `--install-completion` / `--show-completion`: shell completion (docs/usage.md).

app = typer.Typer(
    name="transcriber",
    help="Speaker-labelled transcripts from recordings, on this machine or a Spot GPU fleet.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
    rich_markup_mode=None,  # for every subcommand too
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """transcriber: local and remote transcription with speaker labels."""


app.command("transcribe", cls=TranscribeCommand)(transcribe.transcribe_command)
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
    rich_markup_mode=None,
)
transcribe_app.command(cls=TranscribeCommand)(transcribe.transcribe_command)


def main() -> None:
    run_then_exit(app)


def transcribe_main() -> None:
    run_then_exit(transcribe_app)
