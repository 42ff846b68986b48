"""Atomic file writes: a crash never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from transcriber_cli import scratch

NAME_MAX = 255  # bytes in one file name on Linux and macOS file systems
# Temp names keep this much of the target's name: ".NAME.XXXXXXXX.part" must stay within
# NAME_MAX (255 bytes) however long NAME is, or a long but valid output name fails.
_TEMP_NAME_CHARS = 48


def atomic_write_text(path: Path, text: str, *, new_mode: int = 0o600) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``.
    A new file is private by default (config files may hold tokens)."""
    write_files_atomically([(path, text.encode("utf-8"))], new_mode=new_mode)


def write_files_atomically(files: Sequence[tuple[Path, bytes]], *, new_mode: int = 0o666) -> None:
    """Write a set of files all or nothing.

    Every file is staged and fsynced beside its target first, and only then renamed over
    it. A failure while staging (disk full, permission denied) leaves every target as it
    was; a failure while renaming removes the targets this call already published, so the
    set never appears in part. No temp file outlives the call. A new file gets ``new_mode``
    less the umask (like any file a tool writes); a replaced file keeps its mode."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(path, data, new_mode), path))
        with scratch.publishing:  # a process ending now waits for the whole set, or none
            _publish(staged)
        _fsync_dirs({path.parent for path, _ in files})
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
            scratch.release(tmp)


def _publish(staged: list[tuple[Path, Path]]) -> None:
    """Rename each staged file over its target, popping it from ``staged``; on a failure,
    remove the targets already published, so the set never appears in part."""
    published: list[Path] = []
    try:
        while staged:
            tmp, path = staged[0]
            os.replace(tmp, path)
            scratch.release(tmp)
            published.append(path)
            staged.pop(0)
    except BaseException:
        for path in published:
            with contextlib.suppress(OSError):
                path.unlink()
        raise


def check_writable(paths: Sequence[Path]) -> None:
    """Raise the ``OSError`` that writing ``paths`` would meet, where it can be told before
    the work: a name over NAME_MAX, or an existing folder that takes no new file (read-only,
    no permission). A missing folder is left alone (writing creates it); space is not
    checked (it can run out meanwhile: the write itself says so)."""
    for path in paths:
        if len(os.fsencode(path.name)) > NAME_MAX:
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(path))
    for folder in dict.fromkeys(p.parent for p in paths):
        if os.path.isdir(folder):
            fd, tmp = _create_temp(folder / "check", 0o600)
            os.close(fd)
            tmp.unlink()
            scratch.release(tmp)


def _create_temp(path: Path, mode: int) -> tuple[int, Path]:
    """A new file beside ``path``, opened for writing: ``.NAME.XXXXXXXX.part``."""
    while True:
        tmp = path.with_name(f".{path.name[:_TEMP_NAME_CHARS]}.{secrets.token_hex(4)}.part")
        try:
            # O_EXCL: never follow or reuse someone else's file; the kernel applies the umask.
            with scratch.creating():  # listed before Ctrl-C can end the process
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                scratch.track(tmp)
            return fd, tmp
        except FileExistsError:
            continue


def _stage(path: Path, data: bytes, new_mode: int) -> Path:
    """``data`` in a new temp file beside ``path``, fsynced; its mode is the one ``path``
    will have."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = _create_temp(path, new_mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        scratch.release(tmp)
        raise
    return tmp


def _fsync_dirs(dirs: set[Path]) -> None:
    """Make the renames themselves durable (best effort: not every file system allows it)."""
    for folder in dirs:
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def dir_size(path: Path) -> int:
    """Bytes of the files under ``path`` (through the hub cache's symlinks, counted once)."""
    seen: set[Path] = set()
    total = 0
    for file in path.rglob("*"):
        real = file.resolve()
        if real.is_file() and real not in seen:
            seen.add(real)
            total += real.stat().st_size
    return total
