"""Probe and decode the next file of a batch while the current one is transcribed.

ffprobe and ffmpeg run as processes, and starting one costs about 0.1 s of CPU and up to
0.25 s of wall time (Debian's ffmpeg maps 200+ shared libraries). For a folder of short clips
that was a quarter of the whole run (see bench/README.md). One helper thread reads file N+1
while the model works on file N, so that cost overlaps with transcription instead of adding
to it. Results and errors are handed over where the sequential code would have produced
them, so a batch behaves exactly as before, only sooner.

A file read ahead can be replaced before its turn: what was read is used only while the file
still has the identity (inode, size, mtime) it had when it was decoded, else it is read again.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from transcriber_cli import media

# Decode ahead only files up to this long: a decoded file waiting its turn holds 64 kB of
# temporary disk per second of audio (30 min = 115 MB); longer ones are decoded in their turn.
MAX_AHEAD_SECONDS = 30 * 60


@dataclass
class _Read:
    identity: media.Identity | None = None  # the file's, before it was probed
    info: media.MediaInfo | None = None
    probe_error: BaseException | None = None
    audio: media.DecodedAudio | None = None
    decode_error: BaseException | None = None


def _read(path: Path, max_seconds: float, audio_stream: int | None, timeout: float) -> _Read:
    read = _Read()
    with contextlib.suppress(OSError):  # probe says why
        read.identity = media.identity(path)
    try:
        read.info = media.probe(path, audio_stream, timeout)
    except Exception as exc:  # kept, and raised in the caller's thread by probe()
        read.probe_error = exc
        return read
    if read.info.duration <= max_seconds:
        try:
            read.audio = media.decode(path, read.info)
        except Exception as exc:  # kept, and raised by decode()
            read.decode_error = exc
    return read


class ReadAhead:
    """``schedule(path)`` starts reading a file; ``probe``/``decode`` take the result (or do
    the work there and then when nothing was scheduled) and raise what media.* would raise."""

    def __init__(
        self,
        max_seconds: float = MAX_AHEAD_SECONDS,
        audio_stream: int | None = None,
        probe_timeout: float = media.PROBE_TIMEOUT,
    ) -> None:
        self.max_seconds = max_seconds
        self.audio_stream = audio_stream  # ffmpeg's 0:a:N; None: the one with sound
        self.probe_timeout = probe_timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readahead")
        self._pending: dict[Path, Future[_Read]] = {}
        self._lock = threading.Lock()  # several devices' threads schedule and take reads

    def widen(self, readers: int) -> None:
        """Read up to ``readers`` files at once (one per device that transcribes)."""
        with self._lock:
            old = self._pool
            self._pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="readahead")
        old.shutdown(wait=False)  # reads already scheduled there still finish

    def schedule(self, path: Path) -> None:
        with self._lock:
            if path not in self._pending:
                self._pending[path] = self._pool.submit(
                    _read, path, self.max_seconds, self.audio_stream, self.probe_timeout
                )

    def probe(self, path: Path) -> media.MediaInfo:
        with self._lock:
            future = self._pending.get(path)
        if future is None:
            return media.probe(path, self.audio_stream, self.probe_timeout)
        read = future.result()
        if read.probe_error is not None:
            with self._lock:
                self._pending.pop(path, None)
            raise read.probe_error
        assert read.info is not None
        return read.info

    def decode(self, path: Path, info: media.MediaInfo | None = None) -> media.DecodedAudio:
        """The decoded audio of ``path`` as it is now. ``info``: what probing it said."""
        with self._lock:
            future = self._pending.pop(path, None)
        read = future.result() if future is not None else None
        if read is None or read.info is None or (read.audio is None and not read.decode_error):
            # Not read ahead (too long, or not scheduled).
            return media.decode(path, info or (read.info if read else None))
        if read.identity is None or not _same(path, read.identity):
            # Replaced since it was read: read what it holds now (probed anew).
            if read.audio is not None:
                read.audio.close()
            return media.decode(path, media.probe(path, self.audio_stream, self.probe_timeout))
        if read.decode_error is not None:
            raise read.decode_error
        assert read.audio is not None
        return read.audio

    def discard(self, path: Path) -> None:
        """Drop what was read for ``path`` (its turn ended early, e.g. with an error)."""
        with self._lock:
            future = self._pending.pop(path, None)
        if future is not None:
            future.add_done_callback(_close)

    def close(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            future.add_done_callback(_close)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _same(path: Path, identity: media.Identity) -> bool:
    try:
        return media.identity(path) == identity
    except OSError:
        return False


def _close(future: Future[_Read]) -> None:
    """Free the temporary file of a read no one will take."""
    if not future.cancelled() and future.exception() is None:
        audio = future.result().audio
        if audio is not None:
            audio.close()
