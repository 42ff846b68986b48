"""The bad-input corpus through --remote: the same folder of bad inputs gives, file by file,
the same status and the same error line as a local run, nothing is uploaded for a bad input,
and the good file of the batch is transcribed by the worker."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, json_lines, video_without_audio
from tests.conftest import run_cli as run
from tests.remote.test_e2e import s3_objects
from tests.remote.test_parity import clip
from tests.test_bad_media import silently_truncated_mp4

pytestmark = pytest.mark.slow


def bad_folder(src: Path, conversation: dict) -> Path:
    """One good recording and every kind of bad input a folder meets."""
    clip(src / "good.mp3", 0, 11)
    (src / "empty.mp3").write_bytes(b"")
    (src / "noise.mp3").write_bytes(os.urandom(4096))
    video_without_audio(src / "silent-film.mp4")
    silently_truncated_mp4(conversation["path"], src / "cut.mp4")
    (src / "whole.mp4").unlink()  # the helper's uncut copy
    os.mkfifo(src / "pipe.mp3")
    (src / "gone.mp3").symlink_to(src / "nowhere.mp3")
    (src / "loop.mp3").symlink_to(src / "loop.mp3")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.wav"))
    sock.close()
    (src / "new\nline.mp3").write_bytes(b"")  # a name that must not forge a line
    return src


def results(proc: subprocess.CompletedProcess, root: Path) -> dict[str, tuple[str, str]]:
    """name -> (status, error) with the folder and job ids taken out of the error."""
    out = {}
    for line in json_lines(proc.stdout):
        name = Path(line["path"]).name
        error = (line.get("error") or "").replace(str(root.resolve()), "DIR")
        error = re.sub(r"[0-9a-f]{32}", "JOB", error.replace(str(root), "DIR"))
        # Remote mode checks the mp3 it extracts: mp3 frames end a few ms off the source's.
        out[name] = (line["status"], re.sub(r"decoded \d+\.\d", "decoded N", error))
    return out


def test_a_folder_of_bad_inputs_local_and_remote(stack, workers, tmp_path, conversation):
    worker = workers.start("--idle-exit", "60")
    local = bad_folder(tmp_path / "local", conversation)
    remote = bad_folder(tmp_path / "remote", conversation)
    inputs = {p.name for p in local.iterdir()}
    lp = run(str(local), "--json")
    rp = run(str(remote), "--json", "--remote")
    assert lp.returncode == rp.returncode == 1, (lp.stderr, rp.stderr, workers.log(worker))
    for proc in (lp, rp):
        assert "Traceback" not in proc.stderr
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert all("new\\nline.mp3" in ln for ln in errors if "line.mp3" in ln)
    got_local, got_remote = results(lp, local), results(rp, remote)
    assert got_local == got_remote  # file by file: the same status and the same line
    assert got_local["good.mp3"] == ("done", "")
    failed = {n for n, (status, _) in got_local.items() if status == "failed"}
    assert failed == {"empty.mp3", "noise.mp3", "silent-film.mp4", "cut.mp4", "pipe.mp3",
                      "sock.wav", "gone.mp3", "loop.mp3", "new\nline.mp3"}  # fmt: skip
    assert "truncated or corrupt" in got_local["cut.mp4"][1]
    assert "not a regular file" in got_local["pipe.mp3"][1]
    assert "symbolic link loop" in got_local["loop.mp3"][1]
    assert "broken symbolic link" in got_local["gone.mp3"][1]
    assert (remote / "good.txt").read_text() == (local / "good.txt").read_text()
    # Only the good file's audio went up; bad inputs left no outputs anywhere.
    assert len([k for k in s3_objects(stack["bucket"]) if k.startswith("uploads/")]) == 1
    for folder in (local, remote):
        made = {p.name for p in folder.iterdir()} - inputs
        assert made == {f"good.{e}" for e in ("txt", "json", "srt", "vtt", "tsv")}, made


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_during_the_extraction_leaves_no_temporary_folder(
    stack, tmp_path, looped_media, signum
):
    """``--remote`` extracts the mp3 into a temporary folder before the upload. SIGINT or
    SIGTERM there ended the process at once without that folder's cleanup: the folder
    stayed, and ffmpeg went on writing the hour's mp3 into it."""
    import signal
    import time

    from tests.test_bad_inputs import _processes_naming

    scratch_dir = tmp_path / "tmp"
    scratch_dir.mkdir()
    media = tmp_path / "hour.mp4"
    media.symlink_to(looped_media(110))
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(media), "--remote", "--no-wait"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "TMPDIR": str(scratch_dir)},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(scratch_dir.glob("transcriber-*/audio.mp3")):  # the extraction has begun
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.02)
    proc.send_signal(getattr(signal, signum))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[signum], stderr
    assert list(scratch_dir.iterdir()) == []
    assert _processes_naming(scratch_dir) == []
