"""Output formats: each a pure ``Transcript -> str`` writer, registered through plugin hooks.

``OutputFormat`` is what a plugin registers; ``formats.registry`` answers which are known."""

from __future__ import annotations

from transcriber_cli.formats.base import OutputFormat

__all__ = ["OutputFormat"]
