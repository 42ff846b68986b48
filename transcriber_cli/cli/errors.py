"""Turn typed errors into one stderr line and an exit code; tracebacks only with --verbose."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator

import typer
from rich.console import Console

from transcriber_cli.errors import (
    Terminated,
    TranscriberError,
    interrupt_exit_code,
    one_line,
    with_doctor_hint,
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


# Their DEBUG lines dump whole requests and replies: session tokens, decrypted SSM values.
WIRE_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "httpcore")


def setup_logging(verbose: bool, quiet: bool = False) -> None:
    from transcriber_cli.redaction import RedactingFilter

    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # secrets never reach a line, -v included
    if not verbose:  # third-party chatter (faster_whisper, botocore, pyannote) stays quiet
        for name in ("faster_whisper", "botocore", "urllib3", "pyannote", "lightning"):
            logging.getLogger(name).setLevel(logging.ERROR)
    else:
        for name in WIRE_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)


def error_line(message: str) -> None:
    """``error: MESSAGE`` as one line whatever the message holds (markup is escaped here)."""
    stderr.print(f"[bold red]error:[/] {_escape(one_line(message))}", markup=True, highlight=False)


@contextlib.contextmanager
def handle_errors(verbose: bool = False, *, suggest_doctor: bool = False) -> Iterator[None]:
    """``suggest_doctor``: a run on this machine, where a missing ffmpeg, model, GPU or
    diarization pipeline is what `transcriber doctor` checks, so the line says so."""
    try:
        yield
    except TranscriberError as exc:
        if verbose:
            stderr.print_exception(show_locals=False)
        error_line(with_doctor_hint(exc) if suggest_doctor else str(exc))
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt as exc:  # Ctrl-C, or Terminated (SIGTERM, SIGHUP)
        with contextlib.suppress(OSError):  # a terminal gone (SIGHUP) fails the write
            error_line(interrupted(exc))
        raise typer.Exit(interrupt_exit_code(exc)) from None


def interrupted(exc: BaseException) -> str:
    if isinstance(exc, Terminated):
        return f"terminated ({signal.Signals(exc.signum).name})"
    return "interrupted"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_json_line(data: dict) -> None:
    """One JSON object per line on stdout, flushed at once so pipes see each result live."""
    # A name that is not UTF-8 holds lone surrogates: as "\udcff" escapes the line stays
    # valid UTF-8 JSON, and a JSON reader gets the very same name back.
    text = json.dumps(data, ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def is_interactive() -> bool:
    return sys.stderr.isatty()
