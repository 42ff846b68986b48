"""The pluggy plugin manager: built-ins first, then the ``transcriber`` entry points.

Order is part of the contract (docs/plugins.md): built-ins register first, then installed
plugins sorted by entry-point name, and ``process_transcript`` hooks run in that
registration order, each seeing the previous one's result. ``tryfirst``/``trylast`` move a
hook to the front or the back. ``TRANSCRIBER_LOAD_PLUGINS`` (as ``LLM_LOAD_PLUGINS`` in
simonw/llm) limits which installed plugins load: unset loads all, ``""`` none, ``"a,b"``
only those entry points.

A plugin that fails to import, or whose registration hooks raise when first called, is
skipped with one warning and listed by ``transcriber plugins list``; a ``process_transcript``
hook that raises is skipped for that transcript. A broken plugin never stops a run.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from transcriber_cli import __version__, hookspecs
from transcriber_cli.redaction import redact
from transcriber_cli.transcript import Transcript

log = logging.getLogger(__name__)

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


@dataclass
class PluginInfo:
    """What ``transcriber plugins list`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    entry_point: str | None  # None for a built-in
    module_file: str | None
    hooks: list[str] = field(default_factory=list)
    status: str = "loaded"  # or "broken" (see error) or "not loaded" (TRANSCRIBER_LOAD_PLUGINS)
    error: str | None = None  # why a broken one was skipped


# Name -> info of every plugin considered by get_plugin_manager(), loaded or skipped.
_INFO: dict[str, PluginInfo] = {}


def _why(exc: BaseException) -> str:
    return redact(" ".join(f"{type(exc).__name__}: {exc}".split()))[:300]


def _probe(plugin: Any) -> None:
    """Call the plugin's registration hooks once with throwaway callbacks: a plugin whose
    hook raises is skipped at load, not in the middle of a run."""
    for hook in ("register_formats", "register_model_sources", "register_secrets"):
        impl = getattr(plugin, hook, None)
        if impl is not None and callable(impl):
            impl(register=lambda *args: None)


def _describe(ep: EntryPoint, status: str = "loaded") -> PluginInfo:
    dist = ep.dist
    return PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?",
                      ep.value, None, status=status)  # fmt: skip


def _load(pm: pluggy.PluginManager, ep: EntryPoint) -> None:
    info = _INFO[ep.name] = _describe(ep)
    try:
        plugin = ep.load()
        info.module_file = getattr(plugin, "__file__", None)
        _probe(plugin)
        pm.register(plugin, name=ep.name)
    except Exception as exc:  # a plugin's bug or missing dependency: skip it, say why once
        info.status, info.error = "broken", _why(exc)
        log.warning("plugin %s (%s) skipped: %s", ep.name, info.distribution, info.error)


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        module = importlib.import_module(name)
        pm.register(module, name=name)
        _INFO[name] = PluginInfo(name, "transcriber-toolkit", __version__, None, module.__file__)
    wanted = _wanted()
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name):
        if wanted is not None and ep.name not in wanted:
            _INFO[ep.name] = _describe(ep, "not loaded")
        elif pm.get_plugin(ep.name) is None:
            _load(pm, ep)
    return pm


def describe_plugins() -> list[PluginInfo]:
    """Every plugin in registration order with its hooks, then the broken and the ones
    ``TRANSCRIBER_LOAD_PLUGINS`` left out."""
    pm = get_plugin_manager()
    for name, plugin in pm.list_name_plugin():
        if name in _INFO and plugin is not None:
            _INFO[name].hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
    order = {"loaded": 0, "broken": 1, "not loaded": 2}
    return sorted(_INFO.values(), key=lambda i: order[i.status])  # stable: load order kept


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
        try:
            replacement = impl.function(transcript=transcript)
        except Exception as exc:  # a plugin's bug must not lose the transcript
            log.warning("plugin %s: process_transcript failed, skipped: %s",
                        impl.plugin_name, _why(exc))  # fmt: skip
            continue
        if isinstance(replacement, Transcript):
            transcript = replacement
    return transcript
