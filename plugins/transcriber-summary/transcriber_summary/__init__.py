"""``NAME.summary.md``: summary, decisions and action items from an OpenAI-compatible
chat-completions endpoint. A format writer, so it runs once per rendering of a transcript,
locally and on workers; a failing endpoint never fails the transcript (see ``write_summary``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from pydantic import ValidationError

from transcriber_cli import hookimpl
from transcriber_cli.errors import TranscriberError
from transcriber_cli.formats import OutputFormat
from transcriber_cli.transcript import Transcript
from transcriber_summary.client import ChatClient, SummaryError
from transcriber_summary.settings import SSM_NAMES, load_summary_settings
from transcriber_summary.summarize import summarize, to_markdown, unavailable

log = logging.getLogger("transcriber_summary")
_said_unconfigured = False
# Rendering the same transcript twice (a retry of the upload, two format lists) asks once.
_done: dict[str, str] = {}


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def write_summary(transcript: Transcript) -> str:
    """The summary as Markdown. Without an endpoint, or when it fails, the file says why in
    one line and one warning is logged: the transcript's other outputs are still written."""
    global _said_unconfigured
    title = transcript.source or "the transcript"
    try:
        settings = load_summary_settings()
    except (ValueError, OSError, TranscriberError) as exc:  # a bad summary_* setting
        log.warning("summary of %s skipped: %s", title, _first_line(exc))
        return unavailable(title, "invalid summary settings")
    if not settings.summary_url:
        if not _said_unconfigured:
            log.warning("summary: no chat endpoint configured (TRANSCRIBER_SUMMARY_URL); skipped")
            _said_unconfigured = True
        return unavailable(title, "no chat endpoint configured")
    key = hashlib.sha256(
        f"{settings.summary_url}\0{settings.summary_model}\0{transcript.model_dump_json()}".encode()
    ).hexdigest()
    if key in _done:
        return _done[key]
    client = ChatClient(settings)
    try:
        text = to_markdown(title, summarize(transcript, client, settings.summary_chunk_chars))
    except SummaryError as exc:
        log.warning("summary of %s failed: %s", title, exc)
        return unavailable(title, str(exc))
    finally:
        client.close()
    if len(_done) >= 8:  # a worker runs for days: keep only the latest few
        _done.clear()
    _done[key] = text
    return text


@hookimpl
def register_secrets(register: Callable[[str], None]) -> None:
    # On workers, read from the stack's SSM parameters (settings.py); stored from stdin by
    # `transcriber infra secrets set NAME`, so the key is never a process argument.
    for name in SSM_NAMES:
        register(name)


@hookimpl
def register_formats(register: Callable[[OutputFormat], None]) -> None:
    # default=False: an API call costs money; ask for it with "-f summary" or "-f all,summary".
    register(OutputFormat("summary", "summary.md", write_summary, default=False))
