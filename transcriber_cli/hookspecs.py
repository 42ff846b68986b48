"""Plugin hooks. Built-in formats and model sources use these same hooks.

A plugin is any module (or object) with functions named like the specs below, marked with
``@transcriber_cli.hookimpl``, exposed through the ``transcriber`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from transcriber_cli.formats.base import OutputFormat
    from transcriber_cli.transcript import Transcript

hookspec = pluggy.HookspecMarker("transcriber")
hookimpl = pluggy.HookimplMarker("transcriber")


@hookspec
def register_formats(register: Callable[[OutputFormat], None]) -> None:
    """Call ``register(OutputFormat(name, extension, write))`` for each output format."""


@hookspec
def register_model_sources(register: Callable[[str, Callable[[str], str | None]], None]) -> None:
    """Call ``register(source_name, resolve)``; ``resolve(model_name)`` returns a local
    CTranslate2 model directory for names the source knows, else ``None``."""


@hookspec
def register_secrets(register: Callable[[str], None]) -> None:
    """Call ``register(name)`` for each secret of the stack the plugin reads on workers
    (the SSM SecureString ``/transcriber/{stack}/{name}``): ``transcriber infra secrets
    set NAME`` then stores it from stdin. Names: lower-case letters, digits and ``_``."""


@hookspec
def process_transcript(transcript: Transcript) -> Transcript | None:
    """Post-process a finished transcript (after diarization, before writers).

    Return a new Transcript to replace it, or None to leave it unchanged."""
