"""The formats registered through plugin hooks (the built-ins use the same hook)."""

from __future__ import annotations

from transcriber_cli.errors import UsageError
from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.plugins import get_plugin_manager


def available_formats() -> dict[str, OutputFormat]:
    found: dict[str, OutputFormat] = {}

    def register(fmt: OutputFormat) -> None:
        found[fmt.name] = fmt

    get_plugin_manager().hook.register_formats(register=register)
    return found


def output_extensions() -> set[str]:
    """The extensions of every registered format: files a folder scan must not take for
    inputs, whichever formats the current run asked for."""
    return {f.extension.lower() for f in available_formats().values()}


def parse_formats(spec: str) -> list[OutputFormat]:
    """``"all"`` or a comma list such as ``"txt,srt"``; unknown names are a usage error."""
    formats = available_formats()
    names = list(dict.fromkeys(n.strip().lower() for n in spec.split(",") if n.strip()))
    if not names:
        raise UsageError("no output format given")
    unknown = [n for n in names if n not in formats and n != "all"]
    if unknown:
        raise UsageError(
            f"unknown format {', '.join(unknown)}; choose from {', '.join(sorted(formats))} or all"
        )
    chosen = [f for f in formats.values() if f.default] if "all" in names else []
    chosen += [formats[n] for n in names if n != "all" and formats[n] not in chosen]
    return chosen
