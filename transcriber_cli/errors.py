"""Typed errors a user can cause, each with a one-line message and an exit code.

The CLI prints ``str(error)`` on one stderr line and exits with ``error.exit_code``;
tracebacks only appear with ``--verbose``.
"""

from __future__ import annotations

import errno
import unicodedata
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; documented in docs/exit-codes.md."""

    OK = 0
    FAILED = 1  # at least one input (or job) failed; the others were processed
    USAGE = 2  # bad flags, bad config, nothing to do
    SETUP = 3  # environment problem: ffmpeg missing, model unavailable, credentials
    INTERRUPTED = 130  # Ctrl-C


class TranscriberError(Exception):
    """Base for errors users can cause. The message must fit on one line."""

    exit_code: int = ExitCode.FAILED  # an ExitCode, or 128 + a signal's number

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} ({self.hint})" if self.hint else base


class UsageError(TranscriberError):
    exit_code = ExitCode.USAGE


class ConfigError(TranscriberError):
    exit_code = ExitCode.USAGE


class SetupError(TranscriberError):
    """Something about the machine, not the input: ffmpeg, models, credentials."""

    exit_code = ExitCode.SETUP
    # `transcriber doctor` checks what this is about (ffmpeg, models, CUDA, diarization):
    # the CLI's line then points there (``with_doctor_hint``).
    doctor_checks = False


class Unavailable(SetupError):
    """A service (MongoDB, S3, SQS) could not be reached for longer than we were willing to
    wait; the work itself is fine and can go on once it is back."""


class FFmpegNotFound(SetupError):
    doctor_checks = True


class ModelUnavailable(SetupError):
    doctor_checks = True


class DiarizationUnavailable(SetupError):
    doctor_checks = True


class DeviceUnavailable(SetupError):
    """The GPU asked for is not usable: no CUDA device, or its libraries are missing."""

    doctor_checks = True


DOCTOR_HINT = "'transcriber doctor' checks this machine's set-up"


def with_doctor_hint(exc: TranscriberError) -> str:
    """``str(exc)``, ending with a pointer to ``transcriber doctor`` when the doctor checks
    what went wrong on this machine (and the message does not point there already)."""
    text = str(exc)
    if getattr(exc, "doctor_checks", False) and "transcriber doctor" not in text:
        return f"{text}; {DOCTOR_HINT}"
    return text


class InputError(TranscriberError):
    """One input cannot be processed; a batch carries on with the rest."""

    exit_code = ExitCode.FAILED


class OutputError(InputError):
    """An input's outputs cannot be written (read-only folder, disk full, name too long);
    nothing of them is left behind and the batch goes on."""


class MediaError(InputError):
    pass


class NotMediaError(MediaError):
    """ffprobe does not recognise the file as media at all (text file, random bytes)."""


class NoAudioStreamError(MediaError):
    pass


class WriterError(TranscriberError):
    """A format writer raised on a transcript (a plugin's bug, or a failure outside it): its
    input fails alone. Not an input error: a worker retries the job, its traceback logged."""


class CancelledError(TranscriberError):
    """A job was cancelled while it ran (remote mode)."""


def os_cause(exc: OSError) -> str:
    """The cause an ``OSError`` names, as our messages say it: ``no space left on device``."""
    if exc.errno == errno.ENOENT:
        return "no such file"
    cause = exc.strerror or str(exc)
    return cause[:1].lower() + cause[1:]


def exception_line(exc: BaseException) -> str:
    """``TypeName: first line of its message`` (nothing after the colon when it has none):
    how a library's failure is named in our one-line errors."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters (a newline in a file name), lone
    surrogates (undecodable name bytes) and line separators are written as escapes, so a
    name can never start a line of its own or forge an ``error:`` line."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")
        else ch
        for ch in text
    )


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C's KeyboardInterrupt is, so the
    same cleanup runs; the process then ends with 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def interrupt_exit_code(exc: BaseException) -> int:
    """What a process ends with after ``exc`` (Ctrl-C, or a ``Terminated`` signal)."""
    return 128 + exc.signum if isinstance(exc, Terminated) else int(ExitCode.INTERRUPTED)
