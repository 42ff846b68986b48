"""media.py against real ffmpeg on real files in many containers, with odd names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import video_without_audio
from tests.test_bad_media import silently_truncated_mp4
from transcriber_cli import media
from transcriber_cli.errors import FFmpegNotFound, MediaError, NoAudioStreamError, NotMediaError

CONTAINERS = {
    "talk.mp4": ("-c:v", "copy", "-c:a", "aac"),
    "talk.mkv": ("-c:v", "copy", "-c:a", "libopus"),
    "talk.mov": ("-c:v", "copy", "-c:a", "aac"),
    "talk.webm": ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"),
    "talk.m4a": ("-vn", "-c:a", "aac"),
    "talk.mp3": ("-vn", "-c:a", "libmp3lame"),
    "talk.wav": ("-vn",),
    "talk.flac": ("-vn",),
    "talk.ogg": ("-vn", "-c:a", "libvorbis"),
    "talk.opus": ("-vn", "-c:a", "libopus"),
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_probe_and_decode_every_container(make_media, conversation, name: str) -> None:
    path = make_media(name, *CONTAINERS[name])
    info = media.probe(path)
    assert info.duration == pytest.approx(conversation["duration"], abs=0.3)
    assert info.has_video == (name.split(".")[1] in {"mp4", "mkv", "mov", "webm"})
    audio = media.decode_audio(path)
    assert audio.dtype == np.float32
    # 16 kHz mono: the sample count matches the duration.
    assert len(audio) / media.SAMPLE_RATE == pytest.approx(conversation["duration"], abs=0.3)
    assert 0.01 < float(np.abs(audio).max()) <= 1.0


def test_decode_stops_at_max_seconds(make_media) -> None:
    """A worker decodes an untrusted file only a little past its duration limit, whatever
    length the file claims: 33 s of talk capped at 5 s gives 5 s of samples."""
    path = make_media("capped.mp3", "-vn", "-c:a", "libmp3lame")
    audio = media.decode(path, max_seconds=5)
    assert len(audio) / media.SAMPLE_RATE == pytest.approx(5, abs=0.05)
    audio.close()


@pytest.mark.parametrize(
    "name", ["with space.mp3", "ünïcødé 会议.mp3", "[brackets] (1).mp3", "-dash.mp3", "a:b.mp3"]
)
def test_odd_file_names(make_media, name: str) -> None:
    path = make_media(name, "-vn", "-c:a", "libmp3lame")
    assert media.probe(path).audio_codec == "mp3"
    assert len(media.decode_audio(path)) > media.SAMPLE_RATE


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        media.probe(tmp_path / "nope.mp4")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(NotMediaError, match="empty file"):
        media.probe(tmp_path / "empty.mp4")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(NotMediaError, match=r"noise\.mp4: not a"):
        media.probe(path)


def test_text_file_is_not_media(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("meeting notes\nnot audio at all\n" * 20)
    with pytest.raises(NotMediaError):
        media.probe(path)


def test_video_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent-film.mp4"
    video_without_audio(path)
    with pytest.raises(NoAudioStreamError, match="no audio stream"):
        media.probe(path)


def test_truncated_file_fails_to_decode(make_media, tmp_path: Path) -> None:
    whole = make_media("whole.flac", "-vn").read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(whole[:2000])  # header survives, the stream does not
    with pytest.raises(MediaError):
        media.decode_audio(path)


def test_extract_mp3_is_16k_mono_audio_only(make_media, tmp_path: Path) -> None:
    src = make_media("talk.mp4", "-c", "copy")
    out = media.extract_mp3(src, tmp_path / "out.mp3")
    info = media.probe(out)
    assert (info.sample_rate, info.channels, info.audio_codec) == (16000, 1, "mp3")
    assert not info.has_video


def test_missing_ffmpeg_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, make_media) -> None:
    src = make_media("talk.wav", "-vn")  # made with ffmpeg, before it goes missing
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FFmpegNotFound, match="not found on PATH"):
        media.probe(src)


def test_extract_mp3_takes_the_chosen_stream_and_refuses_a_cut_file(
    silent_then_speech: Path,
    conversation: dict,
    tmp_path: Path,
) -> None:
    """Remote mode uploads what extract_mp3 writes: the stream probe chose, all of it."""
    info = media.probe(silent_then_speech)  # the silent default stream is passed over
    assert (info.stream, len(info.streams)) == (1, 2)
    spoken = media.extract_mp3(silent_then_speech, tmp_path / "spoken.mp3", info=info)
    assert float(np.abs(media.decode_audio(spoken)).max()) > 0.1
    chosen = media.probe(silent_then_speech, audio_stream=0)
    silent = media.extract_mp3(silent_then_speech, tmp_path / "silent.mp3", info=chosen)
    assert float(np.abs(media.decode_audio(silent)).max()) < 0.001

    cut = tmp_path / "cut.mp4"
    decoded = silently_truncated_mp4(conversation["path"], cut)
    with pytest.raises(MediaError, match=r"truncated or corrupt: decoded .* of 33\.2 s"):
        media.extract_mp3(cut, tmp_path / "cut.mp3", info=media.probe(cut))
    assert decoded < 20 and not (tmp_path / "cut.mp3").exists()
