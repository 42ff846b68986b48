"""``transcriber config path|show|init``."""

from __future__ import annotations

import json

import typer

from transcriber_cli.cli.errors import handle_errors, stderr

app = typer.Typer(help="Show or create the configuration file.", no_args_is_help=True)


@app.command("path")
def path_command() -> None:
    """Print where the config file is read from."""
    from transcriber_cli.config import config_path

    typer.echo(str(config_path()))


@app.command("show")
def show_command(
    json_output: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Print the effective settings (secrets masked)."""
    with handle_errors():
        from transcriber_cli.config import config_path, load_settings

        data = load_settings().public_dict()
        if json_output:
            typer.echo(json.dumps({"schema": "transcriber.config/1", "settings": data}, indent=2))
            return
        stderr.print(f"[dim]config file: {config_path()}[/]")
        for key, value in data.items():
            typer.echo(f"{key} = {json.dumps(value)}")


@app.command("init")
def init_command(
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a commented config file listing every setting and its default."""
    with handle_errors():
        from transcriber_cli.config import config_path, config_template
        from transcriber_cli.errors import UsageError
        from transcriber_cli.fsutil import atomic_write_text

        path = config_path()
        if path.exists() and not force:
            raise UsageError(f"{path} exists; use --force to replace it")
        atomic_write_text(path, config_template())
        typer.echo(str(path))
