"""One folder, two places to run it: a local run and ``--remote`` give the same statuses, the
same exit code and byte-identical outputs (both decode the same mp3).

The folder mixes every kind of input a batch meets: two recordings (one in a subfolder), a
broken file named like a recording, a text file, and, from the first run on, outputs of
opt-in formats (``rttm``) and of a plugin (``md``) that a later run must not take for inputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, json_lines
from tests.conftest import run_cli as run

pytestmark = pytest.mark.slow


def clip(dest: Path, start: float, seconds: float) -> Path:
    """A 16 kHz mono mp3: the form remote mode uploads unchanged, so the worker and a local
    run decode the very same bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(seconds),
         "-i", str(EXAMPLES / "conversation.mp4"), "-vn", "-ac", "1", "-ar", "16000",
         "-c:a", "libmp3lame", "-b:a", "128k", str(dest)],
        check=True,
    )  # fmt: skip
    return dest


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    clip(src / "a.mp3", 0, 11)
    clip(src / "sub" / "b.mp3", 11, 10)
    (src / "broken.mp4").write_bytes(os.urandom(4096))
    (src / "notes.txt").write_text("agenda: budget, hiring\n")
    return src


def statuses(proc: subprocess.CompletedProcess, root: Path) -> dict[str, str]:
    return {
        Path(line["path"]).resolve().relative_to(root.resolve()).as_posix(): line["status"]
        for line in json_lines(proc.stdout)
    }


def outputs(root: Path, inputs: set[str]) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() not in inputs
    }


def test_local_and_remote_agree_on_a_mixed_folder(stack, workers, tmp_path, mixed_folder):
    worker = workers.start("--idle-exit", "120")
    inputs = {p.relative_to(mixed_folder).as_posix() for p in mixed_folder.rglob("*")}
    local, remote = tmp_path / "local", tmp_path / "remote"
    shutil.copytree(mixed_folder, local)
    shutil.copytree(mixed_folder, remote)

    jobs: list[dict[str, tuple]] = []

    def both(*args: str) -> tuple[dict, dict]:
        lp = run(str(local), "--json", *args)
        rp = run(str(remote), "--json", "--remote", *args)
        assert lp.returncode == rp.returncode == 1, (lp.stderr, rp.stderr, workers.log(worker))
        jobs.append({x["path"]: (x["job_id"], x["reused"]) for x in json_lines(rp.stdout)})
        return statuses(lp, local), statuses(rp, remote)

    first = {"a.mp3": "done", "sub/b.mp3": "done", "broken.mp4": "failed", "notes.txt": "ignored"}
    assert both("-f", "all,rttm,md") == (first, first)
    files = outputs(local, inputs)
    assert {n for n in files if n.startswith("a.")} == {
        f"a.{e}" for e in ("txt", "json", "srt", "vtt", "tsv", "rttm", "md")
    }
    assert files == outputs(remote, inputs)  # byte for byte
    assert b"budget" in files["a.txt"] + files["sub/b.txt"]

    # A rerun with the default formats: their outputs exist, so both skip; the rttm and md
    # files beside the inputs are outputs, not inputs to ignore.
    again = {**first, "a.mp3": "skipped", "sub/b.mp3": "skipped"}
    assert both() == (again, again)

    # --overwrite redoes the work in both places, with the same result: remotely as new jobs,
    # not by reusing the finished ones.
    assert both("--overwrite", "-f", "all,rttm,md") == (first, first)
    assert outputs(local, inputs) == outputs(remote, inputs) == files
    done = [p for p, (job, _) in jobs[0].items() if job]
    assert len(done) == 2 and all(jobs[2][p][0] not in (None, jobs[0][p][0]) for p in done)
    assert not any(reused for _, reused in jobs[2].values())
    assert all(job is None for job, _ in jobs[1].values())  # the rerun submitted nothing
