"""Temporary files and folders in use, for a process that must end at once.

Ctrl-C ends a local run without waiting for a model call to return (``cli/interrupt.py``), so
no ``finally`` or ``TemporaryDirectory`` cleanup runs: whatever writes a temporary path says
so here, and ``discard`` removes what is still listed before the process ends.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

_LIVE: set[Path] = set()
# Held while a set of outputs is renamed into place: ``discard`` waits for it, so a process
# ending meanwhile leaves the whole set or none of it.
publishing = threading.Lock()
_listing = threading.Lock()  # a path made and listed, or removed by ``discard``: one at a time
_ended = False
_CHILDREN: set[subprocess.Popen] = set()  # processes writing into listed paths (ffmpeg)


class Ending(Exception):
    """``discard`` ran: the process is ending, and no new temporary path is made."""


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Around making a temporary path (or starting a process that writes into one) and
    listing it. Ctrl-C's cleanup (``discard``, on the main thread while the work runs on
    another) waits for the block, so it cannot come between the two and leave the path
    behind (an hour's decode is 230 MB); after it, nothing new is made."""
    with _listing:
        if _ended:
            raise Ending("the process is ending")
        yield


def ended() -> bool:
    """Whether ``discard`` ran: a child that ended now was killed by it, not by its input."""
    return _ended


def child(process: subprocess.Popen) -> subprocess.Popen:
    """A process ``discard`` kills first: ffmpeg, decoding into a listed folder, would go on
    writing (and taking a core) after its parent ended."""
    _CHILDREN.add(process)
    return process


def release_child(process: subprocess.Popen) -> None:
    _CHILDREN.discard(process)


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
        for process in list(_CHILDREN):
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait(timeout=5)  # then nothing writes into the folders below
        for path in list(_LIVE):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
            _LIVE.discard(path)
