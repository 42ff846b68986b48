"""readahead.py: reading the next file on a helper thread gives what media.* gives, errors too."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from transcriber_cli import media
from transcriber_cli.errors import MediaError, NotMediaError
from transcriber_cli.local.readahead import ReadAhead


@pytest.fixture
def reader():
    ra = ReadAhead()
    yield ra
    ra.close()


def test_scheduled_file_is_read_on_another_thread_with_same_result(make_media, reader) -> None:
    path = make_media("ahead.mp3", "-vn", "-c:a", "libmp3lame")
    seen: list[str] = []
    real_decode = media.decode

    def spy(p: Path, *a, **k):
        seen.append(threading.current_thread().name)
        return real_decode(p, *a, **k)

    mp = pytest.MonkeyPatch()
    mp.setattr(media, "decode", spy)
    try:
        reader.schedule(path)
        info = reader.probe(path)
        audio = reader.decode(path)
    finally:
        mp.undo()
    assert seen and seen[0].startswith("readahead")  # decoded ahead, not in this thread
    assert info == media.probe(path)
    np.testing.assert_array_equal(audio, media.decode_audio(path))
    assert len(audio) / media.SAMPLE_RATE == pytest.approx(info.duration, abs=0.3)


def test_unscheduled_and_too_long_files_are_read_when_asked(make_media) -> None:
    path = make_media("later.flac", "-vn")
    ra = ReadAhead(max_seconds=1.0)  # the conversation is longer: probed ahead, not decoded
    try:
        ra.schedule(path)
        assert ra.probe(path).duration > 1.0
        assert ra._pending[path].result().audio is None
        np.testing.assert_array_equal(ra.decode(path), media.decode_audio(path))
        # Never scheduled: plain media calls.
        assert ra.probe(path) == media.probe(path)
    finally:
        ra.close()


def test_probe_error_is_raised_where_the_probe_is_asked_for(tmp_path: Path, reader) -> None:
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(3).bytes(20_000))
    reader.schedule(bad)
    with pytest.raises(NotMediaError) as ahead:
        reader.probe(bad)
    with pytest.raises(NotMediaError) as direct:
        media.probe(bad)
    assert str(ahead.value) == str(direct.value)
    assert bad not in reader._pending


def test_decode_error_is_raised_at_decode_not_at_probe(make_media, tmp_path, reader) -> None:
    whole = make_media("faststart.m4a", "-vn", "-c:a", "aac", "-movflags", "+faststart")
    data = whole.read_bytes()
    broken = tmp_path / "cut.m4a"
    # The index (moov) is complete and probes fine; the audio data after it is cut off.
    broken.write_bytes(data[: data.find(b"mdat") + 200])
    reader.schedule(broken)
    assert reader.probe(broken).duration > 10
    with pytest.raises(MediaError) as ahead:
        reader.decode(broken)
    with pytest.raises(MediaError) as direct:
        media.decode_audio(broken)
    assert str(ahead.value) == str(direct.value)
    assert "cannot decode audio" in str(ahead.value)


def test_a_file_replaced_after_it_was_read_ahead_is_read_again(make_media, tmp_path, reader):
    path = tmp_path / "talk.flac"
    shutil.copyfile(make_media("ahead.flac", "-vn"), path)
    reader.schedule(path)
    reader._pending[path].result()  # read (old content) before it is replaced
    new = tmp_path / "new.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
                    "-ar", "16000", str(new)], check=True)  # fmt: skip
    new.replace(path)
    reader.probe(path)
    audio = reader.decode(path)
    assert len(audio) == 3 * media.SAMPLE_RATE  # the 3 s tone, not the 33 s talk
    audio.check_unchanged()
