"""The options every ``infra``/``fleet`` command takes, and the stack they name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from transcriber_cli.cli.errors import handle_errors

if TYPE_CHECKING:
    from transcriber_cli.cloud.stack import Stack
    from transcriber_cli.config import Settings

StackName = Annotated[
    str | None, typer.Option("--stack", help="Stack name (default: setting 'stack').")
]
Region = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: AWS_REGION, setting).")
]
Profile = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (default: AWS_PROFILE, setting).")
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Tracebacks on errors.")]


def connect(stack: str | None, region: str | None, profile: str | None) -> tuple[Stack, Settings]:
    from transcriber_cli.cloud.stack import Stack
    from transcriber_cli.config import load_settings

    settings = load_settings(stack=stack, region=region, profile=profile)
    return Stack.from_settings(settings), settings


@contextlib.contextmanager
def on_stack(
    stack: str | None, region: str | None, profile: str | None, verbose: bool
) -> Iterator[tuple[Stack, Settings]]:
    """The named stack and the settings, for a command whose errors end as one line."""
    with handle_errors(verbose):
        yield connect(stack, region, profile)
