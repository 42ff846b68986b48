"""Probe and decode the next file of a batch while the current one is transcribed.

ffprobe and ffmpeg run as processes, and starting one costs about 0.1 s of CPU and up to
0.25 s of wall time (Debian's ffmpeg maps 200+ shared libraries). For a folder of short clips
that was a quarter of the whole run (see bench/README.md). One helper thread reads file N+1
while the model works on file N, so that cost overlaps with transcription instead of adding
to it. Results and errors are handed over where the sequential code would have produced
them, so a batch behaves exactly as before, only sooner.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transcriber_cli import media

# Decode ahead only files up to this long: a decoded file waiting its turn holds
# 64 kB per second of audio (30 min = 115 MB); longer files are decoded when their turn comes.
MAX_AHEAD_SECONDS = 30 * 60


@dataclass
class _Read:
    info: media.MediaInfo | None = None
    probe_error: BaseException | None = None
    audio: np.ndarray | None = None
    decode_error: BaseException | None = None


def _read(path: Path, max_seconds: float) -> _Read:
    read = _Read()
    try:
        read.info = media.probe(path)
    except Exception as exc:  # kept, and raised in the caller's thread by probe()
        read.probe_error = exc
        return read
    if read.info.duration <= max_seconds:
        try:
            read.audio = media.decode_audio(path)
        except Exception as exc:  # kept, and raised by decode()
            read.decode_error = exc
    return read


class ReadAhead:
    """``schedule(path)`` starts reading a file; ``probe``/``decode`` take the result (or do
    the work there and then when nothing was scheduled) and raise what media.* would raise."""

    def __init__(self, max_seconds: float = MAX_AHEAD_SECONDS) -> None:
        self.max_seconds = max_seconds
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readahead")
        self._pending: dict[Path, Future[_Read]] = {}

    def schedule(self, path: Path) -> None:
        if path not in self._pending:
            self._pending[path] = self._pool.submit(_read, path, self.max_seconds)

    def probe(self, path: Path) -> media.MediaInfo:
        future = self._pending.get(path)
        if future is None:
            return media.probe(path)
        read = future.result()
        if read.probe_error is not None:
            del self._pending[path]
            raise read.probe_error
        assert read.info is not None
        return read.info

    def decode(self, path: Path) -> np.ndarray:
        future = self._pending.pop(path, None)
        read = future.result() if future is not None else None
        if read is None or read.info is None or (read.audio is None and not read.decode_error):
            return media.decode_audio(path)  # not read ahead (too long, or not scheduled)
        if read.decode_error is not None:
            raise read.decode_error
        assert read.audio is not None
        return read.audio

    def discard(self, path: Path) -> None:
        """Drop what was read for ``path`` (its turn ended early, e.g. with an error)."""
        self._pending.pop(path, None)

    def close(self) -> None:
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
