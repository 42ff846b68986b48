"""ffprobe + ffmpeg through ffmpeg-python: probe, decode to 16 kHz mono float32, extract mp3.

Every failure becomes a typed error whose message names the file and the cause on one line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import mimetypes
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from transcriber_cli import scratch
from transcriber_cli.errors import (
    FFmpegNotFound,
    MediaError,
    NoAudioStreamError,
    NotMediaError,
    TranscriberError,
)

log = logging.getLogger(__name__)


class ProbeTimeout(MediaError):
    """ffprobe ran past its time limit: probing the file again would cost as much."""


SAMPLE_RATE = 16000
# A decode that ends this much short of the stream's stated duration lost its tail.
SHORT_BY_SECONDS = 1.0
SHORT_BY_FRACTION = 0.05
# Several audio streams: this much of each is measured to tell sound from silence (cheap:
# decoding 5 min of audio for a level takes well under a second).
LEVEL_SAMPLE_SECONDS = 300
SILENT_DB = -60.0  # a stream whose loudest sample stays below this is silent
# ffprobe reads headers, in well under a second for any real recording, but a broken header
# can send it through the whole file: a WAV with no data chunk before 1 GiB of zeros took
# 86 s. Past this it is killed and the file fails (the setting probe_timeout).
PROBE_TIMEOUT = 120.0
# Container formats ffprobe reports for things that are not recordings.
_NON_MEDIA_FORMATS = {
    "tty",
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "gif",
    "bmp_pipe",
    "webp_pipe",
    "svg_pipe",
    "tiff_pipe",
    "lrc",
    "srt",
    "webvtt",
    "ass",
    "subviewer",
    "ico",
    "pdf",
}


_EXTRA_MEDIA_EXTENSIONS = {
    ".opus",
    ".m4a",
    ".mkv",
    ".webm",
    ".flac",
    ".ogg",
    ".oga",
    ".wma",
    ".aac",
    ".amr",
    ".3gp",
    ".mts",
    ".m2ts",
    ".ts",
    ".caf",
    ".aiff",
    ".aif",
}


def has_media_extension(path: Path) -> bool:
    """Named like a recording: if ffprobe cannot read it, it is broken rather than not media."""
    if path.suffix.lower() in _EXTRA_MEDIA_EXTENSIONS:
        return True
    kind, _ = mimetypes.guess_type(path.name)
    return kind is not None and kind.split("/")[0] in ("audio", "video")


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int
    duration: float  # the stream's own stated duration (0 when the container keeps none)
    default: bool  # its disposition says so


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format_name: str
    duration: float  # seconds
    audio_codec: str
    sample_rate: int
    channels: int
    has_video: bool
    stream: int = 0  # the audio stream used (ffmpeg's 0:a:N)
    streams: tuple[AudioStream, ...] = ()

    @property
    def audio_duration(self) -> float:
        """What the used stream says it lasts (the container's duration when it says nothing)."""
        own = self.streams[self.stream].duration if self.streams else 0.0
        return own or self.duration


def ensure_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise FFmpegNotFound(
                f"{tool} not found on PATH",
                hint="install ffmpeg: apt-get install ffmpeg, brew install ffmpeg, "
                "or winget install ffmpeg",
            )


def _url(path: Path) -> str:
    # "file:" stops ffmpeg from reading "a:b.mp3" as protocol "a" or "-x.wav" as an option.
    return _FileName("file:" + str(path.resolve()))


class _FileName(str):
    """A file name as ffmpeg-python can take it. ffmpeg-python hashes ``str(arg)`` as UTF-8,
    which fails for a name that is not UTF-8 (Python keeps its bytes as lone surrogates);
    here ``str()`` gives an escaped form for that hash, while the argument itself reaches
    ffmpeg as the file's own bytes (subprocess encodes it with ``os.fsencode``)."""

    def __str__(self) -> str:
        return self.encode("utf-8", "backslashreplace").decode("utf-8")


def _last_line(stderr: bytes | None) -> str:
    lines = [ln.strip() for ln in (stderr or b"").decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return "unknown ffmpeg error"
    last = lines[-1]
    # ffmpeg prefixes messages with the input URL; keep only the cause.
    if ": " in last and last.startswith(("file:", "/")):
        last = last.split(": ", 1)[1] if last.count(": ") == 1 else last.rsplit(": ", 1)[1]
    return last


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_readable(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise MediaError(f"{path}: broken symbolic link") from None
        raise MediaError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MediaError(f"{path}: symbolic link loop") from None
        raise MediaError(f"{path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise MediaError(f"{path}: is a directory")
    for test, kind in _SPECIAL_FILES:
        if test(info.st_mode):
            # Opening a named pipe waits for a writer, a device can stream forever: neither
            # is a recording, and reading one would hang the run.
            raise NotMediaError(f"{path}: not a regular file ({kind})")
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        raise MediaError(f"{path}: permission denied") from None
    if info.st_size == 0:
        raise NotMediaError(f"{path}: empty file")


def _run(
    start: Callable[[], subprocess.Popen], timeout: float | None = None
) -> tuple[int, bytes, bytes]:
    """Run ffmpeg or ffprobe to its end: return code, stdout, stderr. It never outlives the
    run: a signal's cleanup (``scratch.discard``) kills it, and so does any exception here,
    Ctrl-C in the main thread (remote mode) or ``timeout`` (then TimeoutExpired)."""
    with scratch.creating():  # listed before Ctrl-C's cleanup can miss it
        proc = scratch.child(start())
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # stuck in a read, unkillable
            proc.communicate(timeout=5)
        raise
    finally:
        scratch.release_child(proc)
    if proc.returncode and scratch.ended():  # killed by a signal's cleanup: no verdict on the input
        raise scratch.Ending("the process is ending")
    return proc.returncode, out or b"", err or b""


def _ffmpeg(cmd: Any) -> bytes:
    """An ffmpeg-python command run through ``_run``; its stderr, or ffmpeg.Error."""
    code, out, err = _run(lambda: cmd.run_async(pipe_stdout=True, pipe_stderr=True))
    if code:
        raise ffmpeg.Error("ffmpeg", out, err)
    return err


def _ffprobe(url: str, timeout: float) -> dict:
    """ffprobe's JSON for ``url`` (ffmpeg-python's probe, with a time limit); raises
    ffmpeg.Error as that does, and subprocess.TimeoutExpired once ffprobe has been killed."""
    args = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", url]
    code, out, err = _run(lambda: subprocess.Popen(args, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE,
                                                   stdin=subprocess.DEVNULL), timeout)  # fmt: skip
    if code:
        raise ffmpeg.Error("ffprobe", out, err)
    return json.loads(out.decode("utf-8", "replace"))


def probe(path: Path, audio_stream: int | None = None, timeout: float = PROBE_TIMEOUT) -> MediaInfo:
    """Probe one file; raises NotMediaError / NoAudioStreamError / MediaError.

    ``audio_stream`` picks ffmpeg's ``0:a:N``; by default the one with sound (``choose_stream``)."""
    ensure_ffmpeg()
    check_readable(path)
    try:
        found = _ffprobe(_url(path), timeout)
    except ffmpeg.Error as exc:
        cause = _last_line(exc.stderr)
        raise NotMediaError(f"{path}: not a readable media file ({cause})") from None
    except subprocess.TimeoutExpired:
        raise ProbeTimeout(
            f"{path}: ffprobe could not read its headers in {timeout:g} s (a broken file?)"
        ) from None
    fmt = found.get("format", {})
    format_name = str(fmt.get("format_name", ""))
    streams = found.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if set(format_name.split(",")) & _NON_MEDIA_FORMATS or not streams:
        raise NotMediaError(f"{path}: not a media file (detected as {format_name or 'unknown'})")
    if not audio:
        raise NoAudioStreamError(f"{path}: no audio stream")
    streams = tuple(
        AudioStream(
            codec=str(s.get("codec_name", "unknown")),
            sample_rate=int(_float(s.get("sample_rate"))),
            channels=int(s.get("channels") or 0),
            duration=_float(s.get("duration")),
            default=bool(s.get("disposition", {}).get("default")),
        )
        for s in audio
    )
    info = MediaInfo(
        path=path,
        format_name=format_name,
        duration=_float(fmt.get("duration")) or streams[0].duration,
        audio_codec=streams[0].codec,
        sample_rate=streams[0].sample_rate,
        channels=streams[0].channels,
        has_video=bool(video),
        streams=streams,
    )
    return use_stream(info, choose_stream(info, audio_stream))


def use_stream(info: MediaInfo, index: int) -> MediaInfo:
    chosen = info.streams[index]
    return replace(info, stream=index, audio_codec=chosen.codec,
                   sample_rate=chosen.sample_rate, channels=chosen.channels)  # fmt: skip


def choose_stream(info: MediaInfo, requested: int | None = None) -> int:
    """The audio stream to transcribe: ``requested``, else the default-disposition one unless
    it is silent and another is not (a muted camera track beside the microphone's)."""
    count = len(info.streams)
    if requested is not None:
        if not 0 <= requested < count:
            raise MediaError(
                f"{info.path}: no audio stream {requested} (it has {count}, numbered 0-{count - 1})"
            )
        return requested
    if count < 2:
        return 0
    default = next((i for i, s in enumerate(info.streams) if s.default), 0)
    levels = stream_levels(info.path, count)
    chosen = default
    if levels[default] < SILENT_DB:
        loudest = max(range(count), key=lambda i: levels[i])
        if levels[loudest] >= SILENT_DB:
            chosen = loudest
    log.info(
        "%s: %d audio streams, using stream %d (peak levels: %s; --audio-stream N picks one)",
        info.path, count, chosen, ", ".join(f"{i}: {v:.0f} dB" for i, v in enumerate(levels)),
    )  # fmt: skip
    return chosen


_MAX_VOLUME = re.compile(r"max_volume: (-?inf|-?[0-9.]+) dB")


def stream_levels(path: Path, count: int) -> list[float]:
    """The peak level (dB) of each audio stream over its first ``LEVEL_SAMPLE_SECONDS``, in one
    ffmpeg run (volumedetect: one output per stream)."""
    stream = ffmpeg.input(_url(path), t=LEVEL_SAMPLE_SECONDS)
    outputs = [
        stream[f"a:{i}"].filter("volumedetect").output("-", format="null") for i in range(count)
    ]
    try:
        err = _ffmpeg(
            ffmpeg.merge_outputs(*outputs).global_args(
                "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"
            )
        )
    except ffmpeg.Error as exc:
        raise MediaError(f"{path}: cannot read audio ({_last_line(exc.stderr)})") from None
    # One line per stream, in output order; a stream that yields no samples counts as silent.
    levels = [float(v) for v in _MAX_VOLUME.findall(err.decode("utf-8", "replace"))][:count]
    return levels + [float("-inf")] * (count - len(levels))


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


class InputChanged(MediaError):
    """The input no longer holds the bytes that were decoded."""


Identity = tuple[int, int, int, int]  # (device, inode, size, mtime): which bytes a path holds


def identity(path: Path) -> Identity:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class DecodedAudio:
    """16 kHz mono float32 samples kept in an unlinked temporary file, read a slice at a time:
    a run holds the window it transcribes, not the recording (an hour is 230 MB).

    Slicing (``audio[a:b]``) and ``len`` work as on an array; ``identity`` is the input's stat
    identity, unchanged from before to after the decode, so it names the bytes decoded."""

    def __init__(self, path: Path, fd: int, identity: Identity) -> None:
        self.path = path
        self.identity = identity
        self._fd = fd
        self.samples = os.fstat(fd).st_size // 4

    def __len__(self) -> int:
        return self.samples

    @property
    def size(self) -> int:
        return self.samples

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(self.samples)
        if step != 1:
            raise ValueError("DecodedAudio reads contiguous slices only")
        out = np.empty(max(0, stop - start), dtype=np.float32)
        view, offset = memoryview(out.data).cast("B"), start * 4
        while view:  # pread may return less than asked
            n = os.preadv(self._fd, [view], offset)
            if n <= 0:
                raise OSError(errno.EIO, f"short read of the decoded audio of {self.path}")
            view, offset = view[n:], offset + n
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def mapped(self) -> np.ndarray:
        """All samples as a read-only memory map (for pyannote, which takes a whole waveform):
        pages come from the file as they are read and the kernel may drop them again."""
        return np.memmap(os.fdopen(os.dup(self._fd), "rb"), dtype=np.float32, mode="r")

    def check_unchanged(self) -> None:
        """Raise if the input no longer holds the bytes that were decoded (replaced or
        rewritten since): its transcript must not be recorded for the new content."""
        try:
            now = identity(self.path)
        except OSError:
            now = None
        if now != self.identity:
            raise InputChanged(
                f"{self.path}: changed during the run (replaced or rewritten after it was "
                "read); run again to transcribe its new content"
            )

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


# What the flow transcribes: an array, or samples read from disk a window at a time.
Samples = np.ndarray | DecodedAudio


def whole(audio: Samples) -> np.ndarray:
    """Every sample as one array; a ``DecodedAudio`` maps its file instead of reading it."""
    return audio.mapped() if isinstance(audio, DecodedAudio) else audio


def decode(
    path: Path,
    info: MediaInfo | None = None,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_seconds: float | None = None,
) -> DecodedAudio:
    """Decode the audio stream ``info`` chose (else the first) to a ``DecodedAudio``;
    at most ``max_seconds`` of it (an untrusted file's header may lie about its length).

    ffmpeg writes the samples to a temporary file: read from a pipe, every 64 kB chunk needed
    the GIL back, and beside a thread importing pyannote an hour took 10 s instead of 1.4 s.
    With ``info``, a decode that ends well short of the stream's stated duration (a cut
    file whose index survived) is an error, not a shorter transcript."""
    ensure_ffmpeg()
    stream = info.stream if info is not None else 0
    try:
        before = identity(path)
    except OSError:
        check_readable(path)  # says why, in the words probe uses
        raise
    try:
        with scratch.creating():  # Ctrl-C ends the process without this block's cleanup
            tmp = scratch.track(Path(tempfile.mkdtemp(prefix="transcriber-decode-")))
        try:
            raw = tmp / "audio.f32"
            cmd = (
                ffmpeg.input(_url(path), **({} if max_seconds is None else {"t": max_seconds}))
                .output(_url(raw), format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate,
                        map=f"0:a:{stream}")
                .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-xerror")
            )  # fmt: skip
            # Ctrl-C's cleanup kills it before removing its folder.
            code, _, stderr = _run(lambda: cmd.run_async(pipe_stdout=True, pipe_stderr=True))
            if code:
                cause = _last_line(stderr)
                if "No space left" in cause:  # the machine's problem, not the input's
                    raise OSError(errno.ENOSPC, "No space left on device") from None
                raise MediaError(f"{path}: cannot decode audio ({cause})") from None
            # Unlinked with the folder; the open descriptor keeps the samples until closed.
            audio = DecodedAudio(path, os.open(raw, os.O_RDONLY), before)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            scratch.release(tmp)
    except OSError as exc:  # a full or unwritable temporary folder: retrying elsewhere can work
        raise TranscriberError(
            f"{path}: no room to decode the audio in {tempfile.gettempdir()} "
            f"({exc.strerror or exc}; 230 MB per hour of audio)",
            hint="free space there or point TMPDIR elsewhere",
        ) from None
    try:
        audio.check_unchanged()  # replaced while ffmpeg read it: these samples are no one's
        if len(audio) < sample_rate // 10:
            raise MediaError(
                f"{path}: no audio samples could be decoded (corrupt or silent stream)"
            )
        if info is not None:
            check_complete(path, len(audio) / sample_rate, info.audio_duration)
    except BaseException:
        audio.close()
        raise
    return audio


def check_complete(path: Path, decoded: float, stated: float) -> None:
    if stated - decoded > max(SHORT_BY_SECONDS, SHORT_BY_FRACTION * stated):
        raise MediaError(f"{path}: truncated or corrupt: decoded {decoded:.1f} of {stated:.1f} s")


def decode_audio(
    path: Path, sample_rate: int = SAMPLE_RATE, info: MediaInfo | None = None
) -> np.ndarray:
    """``decode`` into memory: every sample at once, as an array."""
    return np.asarray(decode(path, info, sample_rate))


def is_upload_form(info: MediaInfo) -> bool:
    """Already what remote mode uploads (mp3, 16 kHz, mono): its audio is copied, not
    encoded again, so the worker decodes exactly what a local run of the file decodes."""
    return info.audio_codec == "mp3" and info.sample_rate == SAMPLE_RATE and info.channels == 1


def extract_mp3(
    path: Path,
    dest: Path,
    bitrate: str = "128k",
    *,
    copy: bool = False,
    info: MediaInfo | None = None,
) -> Path:
    """Audio only, 16 kHz mono mp3: what remote mode uploads (never a picture or video
    track, nor tags). ``copy`` keeps the audio frames of an input already in that form.
    With ``info``: its chosen audio stream, and an extraction short of the stated duration
    (a cut file) is an error."""
    ensure_ffmpeg()
    codec = (
        {"acodec": "copy"}
        if copy
        else {"ac": 1, "ar": SAMPLE_RATE, "acodec": "libmp3lame", "audio_bitrate": bitrate}
    )
    stream_map = f"0:a:{info.stream if info is not None else 0}"
    stream = (
        ffmpeg.input(_url(path))
        .output(_url(dest), map=stream_map, vn=None, map_metadata=-1, f="mp3", **codec)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-xerror")
        .overwrite_output()
    )
    try:
        _ffmpeg(stream)
        if info is not None:
            extracted = _float(
                _ffprobe(_url(dest), PROBE_TIMEOUT).get("format", {}).get("duration")
            )
            check_complete(path, extracted, info.audio_duration)
    except ffmpeg.Error as exc:
        dest.unlink(missing_ok=True)
        raise MediaError(f"{path}: cannot extract audio ({_last_line(exc.stderr)})") from None
    except subprocess.TimeoutExpired:
        dest.unlink(missing_ok=True)
        raise MediaError(f"{path}: the extracted audio could not be probed") from None
    except MediaError:
        dest.unlink(missing_ok=True)
        raise
    return dest
