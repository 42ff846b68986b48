"""What someone meets first: ``--version``, and ``transcribe`` run with nothing to do."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from transcriber_cli import __version__

EXAMPLES = (
    ("meeting.mp4", "one recording"),
    ("~/recordings --json", "a folder, one JSON line per file"),
    ("talk.mp4 -f srt", "subtitles only"),
)


def no_args_message(prog: str) -> str:
    """A few lines that fit 80 columns: what to pass, examples, where the rest is."""
    calls = [f"{prog} {args}" for args, _ in EXAMPLES]
    width = max(map(len, calls)) + 3
    examples = "\n".join(f"  {call:<{width}}{what}" for call, (_, what) in zip(calls, EXAMPLES))
    return (
        f"usage: {prog} PATH... [OPTIONS]\n\n"
        "Transcribes recordings (files, or folders searched recursively) into txt, json,\n"
        "srt, vtt and tsv files beside each input, with speaker labels. For example:\n\n"
        f"{examples}\n\n"
        f"Every option: {prog} --help\n"
        "Check this machine's set-up: transcriber doctor"
    )


def show_version(ctx: typer.Context, value: bool) -> None:
    """``--version``: the program's name as it was called, and the one version there is."""
    if value and not ctx.resilient_parsing:
        typer.echo(f"{ctx.find_root().info_name} {__version__}")
        raise typer.Exit()


class TranscribeCommand(TyperCommand):
    """``transcribe`` with no arguments: a short usage message and exit 2 (the full help
    is 70 lines a first-time user has to scroll back through)."""

    # ctx: click's Context, which newer Typers vendor (typer._click) and older ones import.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # resilient: shell completion asking
            typer.echo(no_args_message(ctx.command_path), err=True)
            ctx.exit(2)
        return super().parse_args(ctx, args)
