"""Leaving the process once a command has returned, without tearing the interpreter down.

After its last output, a run that loaded Whisper and the speaker models spent most of a
second on a CPU (measured: 0.7-0.8 s with tiny.en) in the interpreter's teardown: collecting
every module and freeing models, CUDA contexts included, that the operating system frees
anyway when the process ends. By the time the command returns nothing it made is pending:
outputs are closed and renamed into place, results printed. So the exit handlers run as
usual (``atexit``: logging's flush, ``weakref.finalize`` cleanups, plugins' hooks), the
standard streams are flushed, and the process ends there. A non-daemon thread still alive
keeps the usual exit, which waits for it (a CPU worker's model-load threads, made by its
consumer threads), as does a profiler; daemon threads (a model load or download
no longer needed, as after Ctrl-C; on a GPU worker its warm-up and the load threads that
began in it) end with the process, unjoined.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def run_then_exit(app: Callable[[], object]) -> NoReturn:
    """``app()`` (a Typer app in standalone mode, which ends in SystemExit), then exit."""
    try:
        app()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)


def exit_now(code: str | int | None) -> NoReturn:
    # A profiler (cProfile prints once the program returns) or a thread at work keeps the
    # usual exit. A tracer does not: coverage's saves its data from an exit handler.
    if _profiled() or any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1, as the interpreter does
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or stream.closed:  # started without it, or closed: nothing to do
            continue
        try:
            stream.flush()
        except OSError:  # a reader gone (broken pipe): the interpreter's status for it
            status = status or 120
    os._exit(status & 0xFF)


def _profiled() -> bool:
    """A profiler is on: set with ``sys.setprofile`` or, from Python 3.12 (where cProfile
    uses it and ``sys.getprofile()`` is None), registered with ``sys.monitoring``."""
    if sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and monitoring.get_tool(monitoring.PROFILER_ID) is not None
