"""Diarization in a process of its own: a ``Diarizer`` whose pipeline lives in a child.

On a GPU, diarization runs beside transcription. In one process the two share one GIL, and
the diarizer's load alone holds it for about 12 s (importing torch, pyannote and what
torchmetrics pulls in: bench/production.md), so diarization began 11-12 s into an hour's
transcription and slowed it. A child imports, loads and diarizes with its own interpreter;
the parent never imports pyannote.

The child is ``python -m transcriber_cli.diarize.process FD``, started in a session of its
own (Ctrl-C and job-control signals reach only the parent, which cancels it) with stdout on
/dev/null (``--json`` lines stay clean). Parent and child talk over a socket pair: settings,
requests, progress, log records and results as pickles, never a process argument or the
environment (the settings hold secrets). The audio goes as a file descriptor: the decoded
recording's own temporary file, or a memfd holding an array, which the child maps.

The child exits when its socket closes: when the parent ends, however it ends, or drops it.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from transcriber_cli.config import Settings
from transcriber_cli.errors import TranscriberError
from transcriber_cli.media import SAMPLE_RATE, DecodedAudio, Samples
from transcriber_cli.options import SpeakerOptions
from transcriber_cli.transcript import SpeakerTurn

log = logging.getLogger(__name__)

Note = dict[str, Any]
Progress = Callable[[float, float], None]

# After a cancel, how long the child may take to reach its next progress step and stop.
CANCEL_GRACE_SECONDS = 30.0


class DiarizationFailed(TranscriberError):
    """The diarization process ended in the middle of a recording (killed, out of memory)."""


def wanted(settings: Settings, device: str) -> bool:
    """Whether the diarizer runs in a child: ``diarization_process``, else on a CUDA GPU,
    where diarization overlaps transcription. Needs Linux (memfd, descriptor passing)."""
    if not sys.platform.startswith("linux"):
        return False
    if settings.diarization_process is not None:
        return settings.diarization_process
    return device == "cuda"


def load_in_process(settings: Settings, *, device: str) -> tuple[Any, Note | None]:
    """``load_diarizer`` run in a child: ``(ProcessDiarizer, None)``, or ``(None, note)``
    when diarization will not run; a load error is raised here as the child raised it."""
    child = _Child.start(settings, device)
    try:
        name, note = child.loaded()
    except BaseException:
        child.close()
        raise
    if name is None:
        child.close()
        return None, note
    return ProcessDiarizer(child, name=name, settings=settings, device=device), None


class ProcessDiarizer:
    """The ``Diarizer`` the flow calls, its pipeline in a child process. One recording at a
    time; a child that died is started again by the next call."""

    def __init__(self, child: _Child, *, name: str, settings: Settings, device: str) -> None:
        self.name = name
        self._child = child
        self._settings, self._device = settings, device
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._child.pid

    def __call__(
        self,
        audio: Samples,
        *,
        speakers: SpeakerOptions | None = None,
        progress: Progress | None = None,
    ) -> list[SpeakerTurn]:
        if len(audio) == 0:
            return []
        with self._lock:
            if not self._child.alive():
                log.info("diarization: its process had ended; starting it again")
                self._child.close()
                self._child = _Child.start(self._settings, self._device)
                self._child.loaded()
            turns = self._child.diarize(audio, speakers, progress)
        if progress:
            seconds = len(audio) / SAMPLE_RATE
            progress(seconds, seconds)
        return turns

    def close(self) -> None:
        self._child.close()

    def __del__(self) -> None:
        self.close()


class _Child:
    """The parent's end: the child process and its socket."""

    def __init__(self, proc: subprocess.Popen, conn: Connection) -> None:
        self.proc, self.conn = proc, conn

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(cls, settings: Settings, device: str) -> _Child:
        ours, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        child = cls(proc, Connection(ours.detach()))
        child.conn.send(("load", settings, device, logging.getLogger().getEffectiveLevel()))
        return child

    def alive(self) -> bool:
        return self.proc.poll() is None and not self.conn.closed

    def loaded(self) -> tuple[str | None, Note | None]:
        kind, *rest = self._next()
        if kind == "load-error":
            raise rest[0]
        return rest[0], rest[1]

    def diarize(self, audio: Samples, speakers: SpeakerOptions | None, progress) -> list:
        fd = _audio_fd(audio)
        try:
            self.conn.send(("diarize", len(audio), speakers))
            reduction.send_handle(self.conn, fd, self.proc.pid)
        except OSError as exc:
            raise self._ended() from exc
        finally:
            os.close(fd)
        stopped: BaseException | None = None  # what progress raised: cancel, then raise it
        while True:
            kind, *rest = self._next(CANCEL_GRACE_SECONDS if stopped else None)
            if kind == "progress":
                if progress is not None and stopped is None:
                    try:
                        progress(*rest)
                    except BaseException as exc:  # e.g. a cancelled job, an abandoned file
                        stopped = exc
                        with contextlib.suppress(OSError):
                            self.conn.send(("cancel",))
            elif kind == "done":
                if stopped is not None:
                    raise stopped
                return rest[0]
            elif kind in ("cancelled", "error"):
                if stopped is not None:
                    raise stopped
                raise rest[0]

    def _next(self, timeout: float | None = None) -> tuple:
        """The next message that is not a log record; a child that ended raises."""
        while True:
            try:
                if timeout is not None and not self.conn.poll(timeout):
                    self.close()  # it did not stop: ended here, started again next time
                    raise self._ended()
                message = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise self._ended() from exc
            if message[0] == "log":
                _, name, level, text = message
                logging.getLogger(name).log(level, "%s", text)
                continue
            return message

    def _ended(self) -> DiarizationFailed:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = (
            f"killed by signal {-code}" if code is not None and code < 0
            else f"exit code {code}" if code is not None else "stopped answering"
        )  # fmt: skip
        return DiarizationFailed(
            f"the diarization process ended unexpectedly ({how}); run again",
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.kill()  # it may be in the middle of a step it cannot be asked out of
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


def _audio_fd(audio: Samples) -> int:
    """A descriptor of the samples as float32: the decoded file's own, or a memfd."""
    if isinstance(audio, DecodedAudio):
        return os.dup(audio.fileno())
    fd = os.memfd_create("transcriber-audio", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "wb") as f:
            np.ascontiguousarray(audio, dtype=np.float32).tofile(f)
    except BaseException:
        os.close(fd)
        raise
    return fd


# --- the child -----------------------------------------------------------------------------


class _Cancelled(Exception):
    pass


class _Forward(logging.Handler):
    """Log records go to the parent, which shows them through its own handlers and filters
    (secret redaction included)."""

    def __init__(self, conn: Connection, lock: threading.Lock) -> None:
        super().__init__()
        self.conn, self.sending = conn, lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            with self.sending:
                self.conn.send(("log", record.name, record.levelno, text))
        except Exception:  # a record that cannot be formatted or sent is not worth a crash
            self.handleError(record)


def _serve(conn: Connection) -> None:
    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            conn.send(message)

    _, settings, device, level = conn.recv()
    root = logging.getLogger()
    root.handlers[:] = [_Forward(conn, lock)]
    root.setLevel(level)
    logging.captureWarnings(True)  # library warnings become records, shown like the parent's
    from transcriber_cli.diarize.loader import load_diarizer

    try:
        diarizer, note = load_diarizer(settings, device=device)
    except Exception as exc:
        _send_error(send, "load-error", exc)
        return
    send(("loaded", diarizer.name if diarizer else None, note))
    if diarizer is None:
        return
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request[0] != "diarize":
            continue  # a cancel that arrived after its recording finished
        _, samples, speakers = request
        fd = reduction.recv_handle(conn)
        try:
            turns = _diarize(diarizer, fd, samples, speakers, conn, send)
        except _Cancelled:
            send(("cancelled",))
        except Exception as exc:
            log.debug("diarization failed in its process", exc_info=True)
            _send_error(send, "error", exc)
        else:
            send(("done", turns))


def _send_error(send, kind: str, exc: Exception) -> None:
    try:
        send((kind, exc))
    except Exception:  # an exception that does not pickle: its type and text will do
        send((kind, RuntimeError(f"{type(exc).__name__}: {exc}")))


def _diarize(diarizer, fd: int, samples: int, speakers, conn: Connection, send) -> list:
    def progress(done: float, total: float) -> None:
        send(("progress", done, total))
        while conn.poll():
            if conn.recv()[0] == "cancel":
                raise _Cancelled

    with os.fdopen(fd, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return diarizer(np.frombuffer(m, dtype=np.float32, count=samples),
                        speakers=speakers, progress=progress)  # fmt: skip
    finally:
        # Closes unless a traceback still holds a view of it; then it goes with that.
        with contextlib.suppress(BufferError):
            m.close()


def main(fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # Native libraries may print to fd 1 too; the parent's stdout is not theirs.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    conn = Connection(fd)
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        _serve(conn)


if __name__ == "__main__":
    main(int(sys.argv[1]))
