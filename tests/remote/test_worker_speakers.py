"""A worker with no Hugging Face token and diarization left on auto labels speakers, with
the same built-in pipeline as a local run (issue 16)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import EXAMPLES, json_lines
from tests.conftest import run_cli as run
from tests.parse_outputs import parse_txt
from transcriber_cli.transcript import Transcript

pytestmark = pytest.mark.slow


def test_a_worker_without_token_labels_speakers(stack, workers, tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSCRIBER_DIARIZE")  # auto, as a worker is configured by default
    monkeypatch.delenv("HF_TOKEN", raising=False)
    worker = workers.start("--idle-exit", "60")
    inputs = tmp_path / "in"
    inputs.mkdir()
    media = shutil.copy(EXAMPLES / "conversation.mp4", inputs / "conversation.mp4")
    proc = run(str(media), "--remote", "-f", "json,txt", "-o", str(tmp_path / "out"), "--json")
    assert proc.returncode == 0, proc.stderr + workers.log(worker)
    (line,) = json_lines(proc.stdout)
    assert line["status"] == "done" and len(line["speakers"]) == 2, line
    t = Transcript.model_validate_json((tmp_path / "out" / "conversation.json").read_text())
    assert t.diarization == {"status": "done", "model": "builtin"}
    script = json.loads((EXAMPLES / "conversation.script.json").read_text())["turns"]
    paragraphs = parse_txt((tmp_path / "out" / "conversation.txt").read_text())
    first = {"alice": "SPEAKER_00", "bob": "SPEAKER_01"}
    assert [who for who, _ in paragraphs] == [first[turn["speaker"]] for turn in script]
