"""Temporary files and folders in use, for a process that must end at once.

Ctrl-C ends a local run without waiting for a model call to return (``cli/interrupt.py``), so
no ``finally`` or ``TemporaryDirectory`` cleanup runs: whatever writes a temporary path says
so here, and ``discard`` removes what is still listed before the process ends.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

_LIVE: set[Path] = set()
# Held while a set of outputs is renamed into place: ``discard`` waits for it, so a process
# ending meanwhile leaves the whole set or none of it.
publishing = threading.Lock()
_listing = threading.Lock()  # a path made and listed, or removed by ``discard``: one at a time
_ended = False
_STOPS = {signal.SIGINT, signal.SIGTERM}


class Ending(Exception):
    """``discard`` ran: the process is ending, and no new temporary path is made."""


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Around making a temporary path and ``track``-ing it. Without it, Ctrl-C could end the
    process between the two (another thread's ``discard`` before the ``track``; in the main
    thread, the interrupt itself) and leave the path behind: an hour's decode is 230 MB. So
    ``discard`` waits for the block, and in the main thread Ctrl-C is held until it ends."""
    held = None
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask"):
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        with _listing:
            if _ended:
                raise Ending("the process is ending")
            yield
    finally:
        if held is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def track(path: Path) -> Path:
    _LIVE.add(path)
    return path


def release(path: Path) -> None:
    _LIVE.discard(path)


def discard() -> None:
    """Remove every listed path (files and folders). Called once, by a process about to end:
    a path ``creating`` would make after it is refused."""
    global _ended
    with publishing, _listing:
        _ended = True
        for path in list(_LIVE):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
            _LIVE.discard(path)
