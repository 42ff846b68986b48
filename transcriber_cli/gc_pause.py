"""Python's cyclic garbage collector held off while a run's models load.

A model load imports torch, CTranslate2, faster-whisper and the diarizer's libraries on
several threads at once and builds the models: some hundreds of thousands of objects that
live as long as the process. Every full collection on the way walks all of them while it
holds the interpreter those threads share: on a fast H100 the large-v3 hour's start-up had
533 collections, 4 of them full, 0.28-0.33 s in all, before its models were ready, and the
2 full ones after took 0.2 s (on 2 CPU cores 0.12-0.19 s before; bench/production.md,
2026-12-06 seventh).

So within a run (``run()``) collection is off while a model load is in flight
(``model_load()``: the Whisper model and the diarizer, each load a minute at most). When the last
load in flight ends, whatever exists then is moved out of later collections (``gc.freeze``:
modules and models stay anyway) and collection is turned back on, so later collections walk
only what the run allocates. When the last run ends the frozen objects go back to the
collector, so garbage made while loading is not kept for the life of a process that goes on
(a caller of the library), unless objects were frozen before the run began (some Python
images do): ``gc.unfreeze`` cannot tell them apart, so what the run froze then stays frozen.
Collection that was off when a load started (the caller's choice) is left alone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_runs = 0  # runs in progress
_loads = 0  # model loads in flight while collection is held off here
_held = False  # collection turned off here
_froze = False  # objects frozen here, thawed when the last run ends
_frozen_before = False  # objects were frozen when the first run began
_epoch = 0  # one per stretch of runs: a load that ends after its runs did does nothing
# Seconds a load holds collection off at most: a first run that downloads its model, or a
# cold disk, goes on collecting after this (a run allocates meanwhile too).
MAX_HOLD = 60.0


@contextmanager
def run() -> Iterator[None]:
    """One run; runs may overlap (several in one process): the last one to end restores."""
    global _runs, _loads, _held, _froze, _frozen_before, _epoch
    with _lock:
        if _runs == 0:
            _frozen_before = gc.get_freeze_count() > 0
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                if _held:  # a load still in flight (an error, or its file failed)
                    gc.enable()
                if _froze and not _frozen_before:
                    gc.unfreeze()
                _loads, _held, _froze = 0, False, False
                _epoch += 1


def model_load() -> Callable[[], None]:
    """Call as a model load starts (within a run); call what it returns once the load has
    ended, loaded or failed (more calls do nothing), or ``MAX_HOLD`` seconds pass."""
    global _loads, _held
    with _lock:
        if _runs == 0 or not (_held or gc.isenabled()):
            return lambda: None
        if not _held:
            gc.disable()
            _held = True
        _loads += 1
        epoch = _epoch
    ended = threading.Event()

    def end() -> None:
        global _loads, _held, _froze
        deadline.cancel()  # (from the timer itself: does nothing)
        with _lock:
            if ended.is_set() or epoch != _epoch:
                return
            ended.set()
            _loads -= 1
            if _loads == 0:
                gc.freeze()
                gc.enable()
                _held, _froze = False, True

    deadline = threading.Timer(MAX_HOLD, end)
    deadline.daemon = True
    deadline.start()
    return end
