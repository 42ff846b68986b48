"""Media that lies, through the real CLI: a file replaced mid-run, a cut mp4 whose index
survived, a silent first audio stream, a model directory that is not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, EXAMPLES, json_lines, run_cli
from tests.helpers import wav_without_data
from tests.local.test_windows import checkpoint_rows

SAMPLE = Path(__import__("pyannote.audio").audio.__file__).parent / "sample" / "sample.wav"
# Said in pyannote's sample call (a different recording from the conversation's).
SAMPLE_WORDS = {"jersey", "chicago", "texas"}
CONVERSATION_WORDS = {"budget", "schedule", "alice"}


def words(path: Path) -> set[str]:
    text = path.read_text().lower()
    return {w.strip(".,?!") for w in text.split()}


@pytest.fixture
def env(tiny_model: str) -> dict[str, str]:
    return {
        "TRANSCRIBER_MODEL": tiny_model,
        "TRANSCRIBER_DEVICE": "cpu",
        "TRANSCRIBER_DIARIZE": "false",
        "TRANSCRIBER_WINDOW_SECONDS": "30",
    }


def start(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "transcribe"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def wait_for_first_window(proc: subprocess.Popen, state_dir: Path) -> None:
    """Until the first file's first window is checkpointed: the next file was read ahead
    long before (it is scheduled before the first file is even decoded)."""
    deadline = time.monotonic() + 120
    while not checkpoint_rows(state_dir):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("no window was checkpointed")
        time.sleep(0.05)


def replace(path: Path, source: Path) -> None:
    """Replaced as editors and sync tools do: a new file renamed over the old one."""
    new = path.with_name(".new" + path.suffix)
    shutil.copyfile(source, new)
    new.replace(path)


@pytest.mark.slow
def test_a_file_replaced_after_it_was_read_ahead_is_transcribed_from_its_new_content(
    tmp_path: Path, looped_media, make_media, env, isolated_settings: Path
) -> None:
    first = looped_media(4)  # ~2.2 min in 30 s windows: long enough to replace the second
    second = tmp_path / "second.wav"
    shutil.copyfile(make_media("talk.wav", "-vn"), second)
    out = tmp_path / "out"
    proc = start(str(first), str(second), "-o", str(out), "-f", "txt", "--json", env=env)
    wait_for_first_window(proc, isolated_settings / "state")
    replace(second, SAMPLE)
    assert not (out / "second.txt").exists()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert [line["status"] for line in json_lines(stdout)] == ["done", "done"]
    said = words(out / "second.txt")
    assert said & SAMPLE_WORDS and not said & CONVERSATION_WORDS  # the new content's words

    # The record is of what was transcribed: a rerun skips it, and its words stay the new ones.
    again = run_cli(str(second), "-o", str(out), "-f", "txt", "--json", env=env)
    assert json_lines(again.stdout)[0]["status"] == "skipped", again.stderr


@pytest.mark.slow
def test_a_file_replaced_while_it_is_transcribed_fails_and_is_not_recorded_as_done(
    tmp_path: Path, looped_media, env, isolated_settings: Path
) -> None:
    recording = tmp_path / "meeting.mp4"
    shutil.copyfile(looped_media(4), recording)
    out = tmp_path / "out"
    proc = start(str(recording), "-o", str(out), "-f", "txt", env=env)
    wait_for_first_window(proc, isolated_settings / "state")
    replace(recording, SAMPLE)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert str(recording) in line and "changed during the run" in line
    assert not out.exists() or not list(out.iterdir())  # no transcript of the old content

    again = run_cli(str(recording), "-o", str(out), "-f", "txt", env=env)
    assert again.returncode == 0, again.stderr
    assert words(out / "meeting.txt") & SAMPLE_WORDS  # redone, from what the file holds now


def silently_truncated_mp4(src: Path, dest: Path) -> float:
    """A faststart mp4 (index first) cut short: ffmpeg decodes what is left and exits 0.
    Returns the seconds such a decode yields, found by cutting until ffmpeg says nothing."""
    whole = dest.with_name("whole.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:v", "copy",
                    "-c:a", "aac", "-movflags", "+faststart", str(whole)], check=True)  # fmt: skip
    data = whole.read_bytes()
    for percent in range(30, 60):
        dest.write_bytes(data[: len(data) * percent // 100])
        done = subprocess.run(
            ["ffmpeg", "-v", "error", "-xerror", "-i", str(dest), "-map", "0:a:0",
             "-f", "f32le", "-ac", "1", "-ar", "16000", "-"],
            capture_output=True,
        )  # fmt: skip
        if done.returncode == 0:
            return len(done.stdout) / 4 / 16000
    pytest.fail("no cut decodes without an error")


def test_a_truncated_mp4_fails_with_what_was_decoded(
    tmp_path: Path, conversation: dict, make_media, env
) -> None:
    cut = tmp_path / "cut.mp4"
    decoded = silently_truncated_mp4(conversation["path"], cut)
    assert decoded < 20  # of 33.2 s
    fine = tmp_path / "fine.wav"
    shutil.copyfile(make_media("talk.wav", "-vn"), fine)
    out = tmp_path / "out"
    done = run_cli(str(cut), str(fine), "-o", str(out), "-f", "txt", "--json", env=env)
    assert done.returncode == 1
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert line == f"error: {cut}: truncated or corrupt: decoded {decoded:.1f} of 33.2 s"
    assert [r["status"] for r in json_lines(done.stdout)] == ["failed", "done"]
    assert sorted(p.name for p in out.iterdir()) == ["fine.txt"]  # nothing for the cut file


def test_the_audio_stream_with_sound_is_transcribed(
    tmp_path: Path, silent_then_speech: Path, env
) -> None:
    out = tmp_path / "out"
    done = run_cli(str(silent_then_speech), "-o", str(out), "-f", "txt", "-v", env=env)
    assert done.returncode == 0, done.stderr
    assert words(out / "two-streams.txt") >= CONVERSATION_WORDS
    assert "2 audio streams, using stream 1" in done.stderr


def test_audio_stream_is_chosen_by_flag_or_setting(
    tmp_path: Path, silent_then_speech: Path, env
) -> None:
    out = tmp_path / "out"
    first = run_cli(str(silent_then_speech), "-o", str(out), "-f", "json", "--audio-stream", "0",
                    env=env)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads((out / "two-streams.json").read_text())["segments"] == []  # silence
    # Another stream is another result: not "already transcribed".
    second = run_cli(str(silent_then_speech), "-o", str(out), "-f", "json",
                     env={**env, "TRANSCRIBER_AUDIO_STREAM": "1"})  # fmt: skip
    assert second.returncode == 0, second.stderr
    segments = json.loads((out / "two-streams.json").read_text())["segments"]
    said = " ".join(s["text"] for s in segments).lower()
    assert all(word in said for word in CONVERSATION_WORDS)

    missing = run_cli(str(silent_then_speech), "-o", str(out), "--audio-stream", "2", env=env)
    assert missing.returncode == 1
    (line,) = [ln for ln in missing.stderr.splitlines() if ln.startswith("error:")]
    assert line == f"error: {silent_then_speech}: no audio stream 2 (it has 2, numbered 0-1)"


def test_a_header_that_sends_ffprobe_through_the_whole_file_fails_at_the_time_limit(
    tmp_path: Path, env, make_media
) -> None:
    """ffprobe searched a whole GiB for a WAV's data chunk while the batch waited."""
    broken = wav_without_data(tmp_path / "broken.wav")
    good = shutil.copy(make_media("speech5.wav", "-vn", "-t", "5"), tmp_path / "talk.wav")
    started = time.monotonic()
    done = run_cli(str(tmp_path), "-f", "txt", env={**env, "TRANSCRIBER_PROBE_TIMEOUT": "5"})
    assert time.monotonic() - started < 80  # a limit, not a speed target: 86 s without it
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {broken}: ffprobe could not read its headers in 5 s "
                      "(a broken file?)"], done.stderr  # fmt: skip
    assert "Traceback" not in done.stderr
    assert {"morning", "joining"} <= words(Path(good).with_suffix(".txt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.wav", "talk.txt", "talk.wav"]


def test_a_model_directory_that_does_not_exist_is_named_so(tmp_path: Path, make_media) -> None:
    done = run_cli(str(make_media("talk.wav", "-vn")), "-m", "./missing-dir", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stderr.startswith("error: model directory ./missing-dir does not exist")


def test_a_name_that_is_not_utf8_transcribes_and_stays_readable(tmp_path: Path, env) -> None:
    """A name with a byte that is not UTF-8 (a Latin-1 archive, a camera's card): outputs
    beside it under the same bytes, and a --json line that JSON readers can take, whose path
    names the very file. Before: a traceback from ffmpeg-python, SQLite and the json writer."""
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"r\xe9union \xff.mp4")
    shutil.copy(EXAMPLES / "conversation.mp4", folder / name)
    proc = run_cli(str(folder), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = json_lines(proc.stdout)
    assert Path(line["path"]) == folder / name  # "\udcff" escapes decode to the same bytes
    stem = os.fsdecode(b"r\xe9union \xff")
    assert words(folder / f"{stem}.txt") >= CONVERSATION_WORDS
    doc = json.loads((folder / f"{stem}.json").read_text())
    assert doc["source"] == "r\\udce9union \\udcff.mp4"  # text for people, escaped
    again = run_cli(str(folder), "--json", env=env)  # the manifest recorded it
    assert json_lines(again.stdout)[0]["status"] == "skipped"
