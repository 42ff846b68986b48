"""``transcriber doctor``: what this machine has for a run, and how to fix what it lacks."""

from __future__ import annotations

import json

import typer

from transcriber_cli.cli.errors import handle_errors, stderr
from transcriber_cli.errors import ExitCode

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


def doctor_command(
    json_output: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check ffmpeg, models, GPU libraries (cuBLAS 12 for CTranslate2), torch, tokens, remote."""
    with handle_errors():
        from transcriber_cli.config import load_settings
        from transcriber_cli.doctor import run_checks

        report = run_checks(load_settings())
        if json_output:
            typer.echo(json.dumps({"schema": "transcriber.doctor/1", **report.to_dict()}, indent=2))
        else:
            from rich.markup import escape

            for check in report.checks:
                style = _STYLE.get(check.status, "")
                stderr.print(
                    f"[{style}]{check.status:>4}[/] {escape(check.name)}: {escape(check.detail)}"
                )
                for line in check.fix:
                    stderr.print(f"       [dim]$[/] {escape(line)}")
        if not report.ok:
            raise typer.Exit(int(ExitCode.SETUP))
