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
