"""ffprobe + ffmpeg through ffmpeg-python: probe, decode to 16 kHz mono float32, extract mp3.

Every failure becomes a typed error whose message names the file and the cause on one line.
"""

from __future__ import annotations

import errno
import mimetypes
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from transcriber_cli.errors import (
    FFmpegNotFound,
    MediaError,
    NoAudioStreamError,
    NotMediaError,
    TranscriberError,
)

SAMPLE_RATE = 16000
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
class MediaInfo:
    path: Path
    format_name: str
    duration: float  # seconds
    audio_codec: str
    sample_rate: int
    channels: int
    has_video: bool


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
    return "file:" + str(path.resolve())


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


def probe(path: Path) -> MediaInfo:
    """Probe one file; raises NotMediaError / NoAudioStreamError / MediaError."""
    ensure_ffmpeg()
    check_readable(path)
    try:
        info = ffmpeg.probe(_url(path))
    except ffmpeg.Error as exc:
        cause = _last_line(exc.stderr)
        raise NotMediaError(f"{path}: not a readable media file ({cause})") from None
    fmt = info.get("format", {})
    format_name = str(fmt.get("format_name", ""))
    streams = info.get("streams", [])
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
    stream = audio[0]
    duration = _float(fmt.get("duration")) or _float(stream.get("duration"))
    return MediaInfo(
        path=path,
        format_name=format_name,
        duration=duration,
        audio_codec=str(stream.get("codec_name", "unknown")),
        sample_rate=int(_float(stream.get("sample_rate"))),
        channels=int(stream.get("channels") or 0),
        has_video=bool(video),
    )


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def decode_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream to mono float32 at ``sample_rate``.

    ffmpeg writes the samples to a temporary file that is read in one call. Read from a
    pipe, every 64 kB chunk needed the GIL back: beside a thread importing pyannote (the
    models load while the first file decodes) an hour took 10 s instead of 1.4 s."""
    ensure_ffmpeg()
    try:
        with tempfile.TemporaryDirectory(prefix="transcriber-decode-") as tmp:
            raw = Path(tmp) / "audio.f32"
            stream = (
                ffmpeg.input(_url(path))
                .output(
                    _url(raw), format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate, map="0:a:0"
                )
                .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-xerror")
            )
            try:
                stream.run(capture_stdout=True, capture_stderr=True)
            except ffmpeg.Error as exc:
                cause = _last_line(exc.stderr)
                if "No space left" in cause:  # the machine's problem, not the input's
                    raise OSError(errno.ENOSPC, "No space left on device") from None
                raise MediaError(f"{path}: cannot decode audio ({cause})") from None
            audio = np.fromfile(raw, dtype=np.float32)
    except OSError as exc:  # a full or unwritable temporary folder: retrying elsewhere can work
        raise TranscriberError(
            f"{path}: no room to decode the audio in {tempfile.gettempdir()} "
            f"({exc.strerror or exc}; 230 MB per hour of audio)",
            hint="free space there or point TMPDIR elsewhere",
        ) from None
    if audio.size < sample_rate // 10:
        raise MediaError(f"{path}: no audio samples could be decoded (corrupt or silent stream)")
    return audio


def is_upload_form(info: MediaInfo) -> bool:
    """Already what remote mode uploads (mp3, 16 kHz, mono): its audio is copied, not
    encoded again, so the worker decodes exactly what a local run of the file decodes."""
    return info.audio_codec == "mp3" and info.sample_rate == SAMPLE_RATE and info.channels == 1


def extract_mp3(path: Path, dest: Path, bitrate: str = "128k", *, copy: bool = False) -> Path:
    """Audio only, 16 kHz mono mp3: what remote mode uploads (never a picture or video
    track, nor tags). ``copy`` keeps the audio frames of an input already in that form."""
    ensure_ffmpeg()
    codec = (
        {"acodec": "copy"}
        if copy
        else {"ac": 1, "ar": SAMPLE_RATE, "acodec": "libmp3lame", "audio_bitrate": bitrate}
    )
    stream = (
        ffmpeg.input(_url(path))
        .output(_url(dest), map="0:a:0", vn=None, map_metadata=-1, f="mp3", **codec)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-xerror")
        .overwrite_output()
    )
    try:
        stream.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as exc:
        dest.unlink(missing_ok=True)
        raise MediaError(f"{path}: cannot extract audio ({_last_line(exc.stderr)})") from None
    return dest
