"""The pluggy plugin manager: built-ins first, then the ``transcriber`` entry points.

Order is part of the contract (docs/plugins.md): built-ins register first, then installed
plugins sorted by entry-point name, and ``process_transcript`` hooks run in that
registration order, each seeing the previous one's result. ``tryfirst``/``trylast`` move a
hook to the front or the back. ``TRANSCRIBER_LOAD_PLUGINS`` (as ``LLM_LOAD_PLUGINS`` in
simonw/llm) limits which installed plugins load: unset loads all, ``""`` none, ``"a,b"``
only those entry points.
"""

from __future__ import annotations

import functools
import importlib
import os
from importlib.metadata import entry_points
from typing import Any

import pluggy

from transcriber_cli import hookspecs
from transcriber_cli.transcript import Transcript

GROUP = "transcriber"
LOAD_ENV = "TRANSCRIBER_LOAD_PLUGINS"
BUILTIN_PLUGINS = (
    "transcriber_cli.formats.builtin",
    "transcriber_cli.engine.sources",
)


def _wanted() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    wanted = _wanted()
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name):
        if (wanted is None or ep.name in wanted) and pm.get_plugin(ep.name) is None:
            pm.register(ep.load(), name=ep.name)
    return pm


def plugin_names() -> list[str]:
    """Loaded plugins in registration order."""
    return [name for name, plugin in get_plugin_manager().list_name_plugin() if plugin]


def in_order(hook: Any) -> list[Any]:
    """A hook's implementations in registration order, ``tryfirst`` ones first and ``trylast``
    ones last. (pluggy's own call order is the reverse: last registered first.)"""
    impls = hook.get_hookimpls()  # pluggy keeps: trylast (newest first), plain, tryfirst
    first = [i for i in impls if i.tryfirst]
    last = [i for i in impls if i.trylast][::-1]
    plain = [i for i in impls if not i.tryfirst and not i.trylast]
    return first + plain + last


def run_postprocessors(transcript: Transcript) -> Transcript:
    """Chain the ``process_transcript`` hooks: each sees the previous one's result (pluggy
    alone would give each the original)."""
    for impl in in_order(get_plugin_manager().hook.process_transcript):
        replacement = impl.function(transcript=transcript)
        if isinstance(replacement, Transcript):
            transcript = replacement
    return transcript
