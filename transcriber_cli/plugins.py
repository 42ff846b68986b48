"""pluggy plugin manager: built-ins first, then the ``transcriber`` entry-point group."""

from __future__ import annotations

import functools
import importlib

import pluggy

from transcriber_cli import hookspecs

BUILTIN_PLUGINS = (
    "transcriber_cli.formats.builtin",
    "transcriber_cli.engine.sources",
)


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("transcriber")
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    pm.load_setuptools_entrypoints("transcriber")
    return pm


def plugin_names() -> list[str]:
    pm = get_plugin_manager()
    return sorted(pm.get_name(p) or repr(p) for p in pm.get_plugins())
