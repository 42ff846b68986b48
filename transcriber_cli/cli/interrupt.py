"""Ctrl-C that stops at once, even while a model computes.

Python runs a signal handler only between bytecodes of the main thread, and a CTranslate2 or
torch call keeps its thread inside C code for as long as a batch takes (seconds on a CPU,
more with a large model). So the work runs on a thread of its own and the main thread only
waits, where Ctrl-C lands at once. Nothing half-done is kept: outputs are published all at
once (``fsutil``), so a process that ends here leaves whole files or none, and the temp files
of a write in flight and of a decode in progress are removed first (``scratch``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from transcriber_cli.cli.errors import error_line, interrupted
from transcriber_cli.errors import Terminated, interrupt_exit_code

T = TypeVar("T")
# SIGTERM (timeout, kill, systemd, docker stop) and SIGHUP (the terminal closed) end a run as
# Ctrl-C does: by default they ended the process at once, and the ffmpeg decoding an hour
# went on writing its temporary file (408 MB) with no parent to remove it.
STOPS = (signal.SIGTERM, signal.SIGHUP)


_stopping = False  # a first signal was raised: the cleanup under way is not cut short


def _stopped(signum: int, _frame: object) -> None:
    """One-shot: a second signal (systemd's SIGHUP right after SIGTERM, Ctrl-C twice) arriving
    before the cleanup could ignore it would raise again inside it, and ffmpeg or a
    temporary folder would outlive the process."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def stops_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Terminated`` (a KeyboardInterrupt) in the main thread, as
    Ctrl-C raises KeyboardInterrupt, once: for work that cleans up as it does after Ctrl-C
    (remote mode: a temporary folder, an ffmpeg, the jobs to reattach to). Only a signal
    left at its default: one ignored (``nohup`` ignores SIGHUP) stays so."""
    global _stopping
    _stopping = False
    main = threading.current_thread() is threading.main_thread()  # where handlers can be set
    defaults = {signal.SIGINT: signal.default_int_handler,
                **{s: signal.SIG_DFL for s in STOPS}}  # fmt: skip
    before = {s: signal.signal(s, _stopped) for s, default in defaults.items()
              if main and signal.getsignal(s) is default}  # fmt: skip
    try:
        yield
    finally:
        for restored, handler in before.items():
            signal.signal(restored, handler)


def run_interruptibly(work: Callable[[], T], *, on_interrupt: Callable[[], None]) -> T:
    """``work()``, on a thread; on Ctrl-C, SIGTERM or SIGHUP, ``on_interrupt()`` (stop the
    live display), one line, and the process ends with the interrupt exit code (128 + the
    signal's number for the other two) without waiting for the work."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised on the main thread, where errors are shown
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="transcribe", daemon=True)
    with stops_interrupt():  # until the process ends: a second signal is then ignored
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.1)
        except KeyboardInterrupt as exc:  # Ctrl-C, or Terminated; later signals do nothing
            from transcriber_cli import scratch

            try:
                scratch.discard()  # kills ffmpeg; waits for outputs being renamed into place
                with contextlib.suppress(OSError):  # a terminal gone (SIGHUP) fails writes
                    on_interrupt()
                    error_line(interrupted(exc))
                    sys.stdout.flush()
                    sys.stderr.flush()
            finally:
                # The work's thread may sit in C code for a while yet: end without joining
                # it (an interpreter shutdown beside it could crash).
                os._exit(interrupt_exit_code(exc))
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
