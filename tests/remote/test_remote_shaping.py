"""Subtitle shaping and the quality report on a remote run: the client renders shaped srt/vtt
from the job's JSON, so they match a local run's (workers write the default shaping); the
worker's quality flags and NAME.qa.json come back beside NAME.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli as run

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "conversation.mp4"
SHAPING = ("--subtitle-preset", "broadcast", "--max-lines", "1", "--vtt-highlight-words")


def test_remote_subtitles_are_shaped_like_local_ones(stack, workers, tmp_path, tiny_model):
    worker = workers.start("--idle-exit", "30")
    inputs = tmp_path / "in"
    inputs.mkdir()
    media = shutil.copy(EXAMPLE, inputs / "conversation.mp4")
    out = tmp_path / "remote"
    proc = run(str(media), "--remote", "-o", str(out), "-f", "srt,vtt,json,qa", "--json",
               *SHAPING)  # fmt: skip
    assert proc.returncode == 0, proc.stderr + workers.log(worker)
    names = ["conversation.json", "conversation.qa.json", "conversation.srt", "conversation.vtt"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert json.loads(proc.stdout.splitlines()[-1])["quality"] == []
    assert json.loads((out / "conversation.json").read_text())["segments"]  # the transcript
    report = json.loads((out / "conversation.qa.json").read_text())
    assert report["schema"] == "transcriber.qa/1" and report["flags"] == []

    from transcriber_cli import media as media_mod

    local_in = tmp_path / "local_in"
    local_in.mkdir()
    media_mod.extract_mp3(media, local_in / "conversation.mp4")  # the audio the worker got
    local = run(str(local_in / "conversation.mp4"), "-o", str(tmp_path / "local"),
                "-m", tiny_model, "--device", "cpu", "--no-diarize", "-f", "srt,vtt",
                *SHAPING)  # fmt: skip
    assert local.returncode == 0, local.stderr
    for ext in ("srt", "vtt"):
        remote_text = (out / f"conversation.{ext}").read_text()
        assert remote_text == (tmp_path / "local" / f"conversation.{ext}").read_text(), ext
    srt = (out / "conversation.srt").read_text()
    assert all(len(block.split("\n")) == 3 for block in srt.strip().split("\n\n"))  # one line
    assert "<00:00:" in (out / "conversation.vtt").read_text()  # highlighted words
