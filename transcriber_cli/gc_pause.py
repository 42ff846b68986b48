"""Python's cyclic garbage collector held off while a run starts.

A run's start-up imports torch, CTranslate2, faster-whisper and the diarizer's libraries on
several threads at once and builds the models: some hundreds of thousands of objects that
live as long as the process. Every full collection on the way walks all of them while it
holds the interpreter the loading threads share: five of them, 0.26-0.27 s before a CPU
run's models were ready (bench/production.md, 2026-12-06 seventh). So a run holds
collections off until its models are ready, then moves what start-up left out of later
collections (``gc.freeze``: the modules and models stay anyway) and turns collection back
on. When the run ends the frozen objects go back to the collector, so garbage that start-up
left is not kept for the life of a process that goes on (a caller of the library).
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType


class StartupPause:
    """``with StartupPause() as pause:`` ... ``pause.resume()`` once the models are ready.

    Collection that was already off (the caller's choice) is left alone, and so is a run
    started while another one holds collection off: the first one turns it back on. Where
    the caller had frozen objects itself, what the run froze stays frozen (``gc.unfreeze``
    cannot tell the two apart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused = False
        self._frozen = False
        self._callers_freeze = False

    def __enter__(self) -> StartupPause:
        with self._lock:
            self._callers_freeze = gc.get_freeze_count() > 0
            if gc.isenabled():
                gc.disable()
                self._paused = True
        return self

    def resume(self) -> None:
        """Freeze what exists now and collect again; later calls do nothing."""
        with self._lock:
            if self._paused:
                gc.freeze()
                gc.enable()
                self._paused, self._frozen = False, True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._paused:  # ended before its models were ready (nothing to do, an error)
                gc.enable()
                self._paused = False
            if self._frozen and not self._callers_freeze:
                gc.unfreeze()
            self._frozen = False
