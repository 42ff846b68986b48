"""pyannote.core (the diarizers' Annotation, Segment and SlidingWindow) without its
notebook module.

pyannote.core's ``__init__`` imports ``pyannote.core.notebook``, which imports matplotlib and
pyplot to draw annotations in Jupyter, whenever matplotlib is installed (pyannote.audio
requires it). That took 0.27 s here and 0.7-1.4 s on a GPU machine's busy start, holding
the interpreter while the Whisper load and the first windows needed it
(bench/production.md, 2026-12-06, sixth). The diarizers without pyannote.audio import
pyannote.core through this at their load; its ``__init__`` already treats a notebook that
cannot be imported as absent. Afterwards ``pyannote.core.notebook`` imports as usual when
someone asks for it (an annotation's picture in Jupyter still works), but ``from
pyannote.core import notebook`` then gives that module rather than its ``notebook`` object.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_CORE, _NOTEBOOK = "pyannote.core", "pyannote.core.notebook"
_ONE_AT_A_TIME = threading.Lock()


def import_pyannote_core() -> ModuleType:
    """``pyannote.core``; imported without its notebook module unless already imported.
    The lock orders only this function's callers: nothing else here imports pyannote.core
    before a diarizer's load (pyannote.audio's pipelines import it with their own import)."""
    with _ONE_AT_A_TIME:
        if _CORE in sys.modules:
            return sys.modules[_CORE]
        blocked = _NOTEBOOK not in sys.modules
        if blocked:
            sys.modules[_NOTEBOOK] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            return importlib.import_module(_CORE)
        finally:
            if blocked and sys.modules.get(_NOTEBOOK, 0) is None:
                del sys.modules[_NOTEBOOK]
