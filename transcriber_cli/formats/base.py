"""What an output format is: a name, a file extension and a pure ``Transcript -> str`` writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transcriber_cli.transcript import Transcript


@dataclass(frozen=True)
class OutputFormat:
    name: str
    extension: str  # without the dot
    write: Callable[[Transcript], str]
    default: bool = True  # part of "all"
    # Subtitle writers also take a ``shaping=`` (formats/shaping.py binds it into ``write``).
    write_shaped: Callable[..., str] | None = None
    # Rendered by the client from the transcript JSON rather than fetched from a worker.
    from_transcript: bool = False
