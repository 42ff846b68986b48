"""Ctrl-C that stops at once, even while a model computes.

Python runs a signal handler only between bytecodes of the main thread, and a CTranslate2 or
torch call keeps its thread inside C code for as long as a batch takes (seconds on a CPU,
more with a large model). So the work runs on a thread of its own and the main thread only
waits, where Ctrl-C lands at once. Nothing half-done is kept: outputs are published all at
once (``fsutil``), so a process that ends here leaves whole files or none, and the temp files
of a write in flight and of a decode in progress are removed first (``scratch``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from transcriber_cli.cli.errors import error_line
from transcriber_cli.errors import ExitCode

T = TypeVar("T")


def run_interruptibly(work: Callable[[], T], *, on_interrupt: Callable[[], None]) -> T:
    """``work()``, on a thread; on Ctrl-C, ``on_interrupt()`` (stop the live display), one
    line, and the process ends with the interrupt exit code without waiting for the work."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised on the main thread, where errors are shown
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="transcribe", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        from transcriber_cli import scratch

        scratch.discard()  # waits for a set of outputs being renamed into place
        on_interrupt()
        error_line("interrupted")
        sys.stdout.flush()
        sys.stderr.flush()
        # The work's thread may sit in C code for a while yet: end without joining it.
        os._exit(int(ExitCode.INTERRUPTED))
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
