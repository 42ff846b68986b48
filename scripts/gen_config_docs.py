"""Generate docs/settings.md from the settings model, so the reference cannot drift.

python scripts/gen_config_docs.py --fix     rewrite docs/settings.md
python scripts/gen_config_docs.py --check   exit 1 when docs/settings.md is stale (CI)

Every field of ``transcriber_cli.config.Settings`` becomes a row: TOML key, environment
variables, type, default, bounds and its description. Sections follow the ``# --- name ---``
comments of config.py; the inherited option groups get one section each. A field without a
description is an error: the reference would have a hole.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from transcriber_cli.config import Settings

OUT = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
ENV_PREFIX = "TRANSCRIBER_"

# Sections for the option groups Settings inherits (their fields are listed there once).
INHERITED = {
    "WhisperOptions": "Whisper decoding",
    "SubtitleOptions": "Subtitles",
    "QualityOptions": "Quality report",
}
# Where each section is explained in prose.
SEE_ALSO = {
    "Transcription": "[Local usage](usage.md#device-and-model)",
    "Whisper decoding": "[Local usage](usage.md#what-happens-to-each-input)",
    "Subtitles": "[Output formats](formats.md#presets-and-limits)",
    "Quality report": "[Quality report](quality.md#thresholds)",
    "Diarization": "[Speaker diarization](diarization.md)",
    "State": "[Batches, skip and resume](usage.md#batches-skip-and-resume)",
    "Remote mode": "[Remote mode](remote.md#settings)",
    "Worker (`transcriber worker`)": "[Remote mode: worker](remote.md#worker)",
}
TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "text", Path: "path",
              SecretStr: "secret text"}  # fmt: skip
PLURALS = {int: "integers", str: "names"}


def _sections() -> list[tuple[str, list[str]]]:
    """(title, field names) in the order a reader wants them: the first own section
    (transcription), the inherited groups, then the rest of config.py's sections."""
    own: list[tuple[str, list[str]]] = []
    for line in inspect.getsource(Settings).splitlines():
        if heading := re.match(r"\s*# --- (.+?) -+$", line):
            title = heading.group(1)
            own.append((title[0].upper() + title[1:], []))
        elif (name := re.match(r"    (\w+): ", line)) and name.group(1) in Settings.model_fields:
            own[-1][1].append(name.group(1))
    inherited = [(INHERITED.get(base.__name__, base.__name__), list(base.model_fields))
                 for base in Settings.__bases__
                 if base is not BaseSettings and getattr(base, "model_fields", None)]  # fmt: skip
    sections = [own[0], *inherited, *own[1:]]
    listed = [name for _, names in sections for name in names]
    missing = [name for name in Settings.model_fields if name not in listed]
    if missing:  # a field declared somewhere this parser does not see
        sections.append(("Other", missing))
    return sections


def _type(annotation: Any) -> tuple[str, str]:
    """(type, allowed values) in words."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    allowed = ""
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        allowed = ", ".join(f"`{v}`" for v in values)
        name = TYPE_NAMES.get(type(values[0]), type(values[0]).__name__)
    elif typing.get_origin(annotation) is tuple:
        item = typing.get_args(annotation)[0]
        name = f"list of {PLURALS.get(item, item.__name__)} (env: comma-separated)"
    else:
        name = TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return (f"{name}, optional" if optional else name), allowed


def _bounds(field: FieldInfo) -> list[str]:
    words = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            words.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            words.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MaxLen):
            words.append(f"at most {item.max_length} long")
    return words


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value) + '"'


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:  # computed per machine: say how, not what
        doc = inspect.getdoc(field.default_factory) or field.default_factory.__name__
        return doc.splitlines()[0].replace("``", "`").rstrip(".")
    if field.default is None:
        return "unset"
    return f"`{_toml(field.default)}`"


def _env_names(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str) and c.isupper()]
    return [ENV_PREFIX + name.upper()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    if undocumented:
        raise SystemExit(f"settings without a description: {', '.join(undocumented)} "
                         "(add description=... to their Field)")  # fmt: skip
    lines = [
        "<!-- Generated by scripts/gen_config_docs.py from transcriber_cli.config.Settings: "
        "do not edit by hand. -->",
        "# Settings reference",
        "",
        "Every setting is a key of the config file (`transcriber config path`; flat keys such as",
        '`model = "small"`) and an environment variable. Flags override both; the order of',
        "precedence and the files are described in [Configuration](configuration.md).",
        "`transcriber config init` writes a commented file with every default, and",
        "`transcriber config show` prints the settings in effect (secrets masked).",
        "",
    ]
    for title, names in _sections():
        lines += [f"## {title}", ""]
        if title in SEE_ALSO:
            lines += [f"See also: {SEE_ALSO[title]}.", ""]
        lines += ["| setting | environment | type | default | allowed | meaning |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for name in names:
            field = Settings.model_fields[name]
            kind, allowed = _type(field.annotation)
            allowed = ", ".join(filter(None, [allowed, *_bounds(field)]))
            env = ", ".join(f"`{e}`" for e in _env_names(name, field))
            row = [f"`{name}`", env, kind, _default(field), allowed, field.description or ""]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from generated import write_or_check

    return write_or_check(OUT, render(), "scripts/gen_config_docs.py")


if __name__ == "__main__":
    sys.exit(main())
