"""Temporary files and folders in use, for a process that must end at once.

Ctrl-C ends a local run without waiting for a model call to return (``cli/interrupt.py``), so
no ``finally`` or ``TemporaryDirectory`` cleanup runs: whatever writes a temporary path says
so here, and ``discard`` removes what is still listed before the process ends.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path

_LIVE: set[Path] = set()
# Held while a set of outputs is renamed into place: ``discard`` waits for it, so a process
# ending meanwhile leaves the whole set or none of it.
publishing = threading.Lock()


def track(path: Path) -> Path:
    _LIVE.add(path)
    return path


def release(path: Path) -> None:
    _LIVE.discard(path)


def discard() -> None:
    """Remove every listed path (files and folders). Called once, by a process about to end."""
    with publishing:
        for path in list(_LIVE):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
            _LIVE.discard(path)
