"""``transcriber plugins list``: installed plugins, their hooks and where they come from."""

from __future__ import annotations

import dataclasses
import json

import typer

from transcriber_cli.cli.errors import handle_errors
from transcriber_cli.cli.stack_options import Json

app = typer.Typer(
    help="Show the installed plugins (built-ins included) and the ones skipped as broken.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

SCHEMA = "transcriber.plugins/1"


@app.command("list")
def list_command(json_output: Json = False) -> None:
    """Every plugin in load order: hooks, distribution, version, entry point, module file."""
    with handle_errors():
        from rich.markup import escape

        from transcriber_cli.plugins import describe_plugins

        plugins = describe_plugins()
        if json_output:
            rows = [dataclasses.asdict(p) for p in plugins]
            typer.echo(json.dumps({"schema": SCHEMA, "plugins": rows}, indent=2))
            return
        from rich.console import Console

        out = Console(highlight=False, soft_wrap=True)
        for p in plugins:
            origin = f"{p.distribution} {p.version}"
            if p.entry_point:
                origin += f", entry point {p.name} = {p.entry_point}"
            out.print(f"[bold]{escape(p.name)}[/] ({escape(origin)})")
            if p.error:
                out.print(f"  [bold red]skipped:[/] {escape(p.error)}")
            elif p.status == "not loaded":
                out.print("  [yellow]not loaded:[/] not in TRANSCRIBER_LOAD_PLUGINS")
            else:
                out.print(f"  hooks: {', '.join(p.hooks) or 'none'}")
            out.print(f"  file: {escape(p.module_file or '?')}")
