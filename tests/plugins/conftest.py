"""Fixtures for plugin tests: a chat-completions server process and a real transcript."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.remote.conftest import stack, workers  # noqa: F401  (the worker test's fixtures)
from transcriber_cli.transcript import Segment, Transcript

SERVER = Path(__file__).with_name("chat_server.py")
API_KEY = "sk-test-Zq9v7Xw2LmN4pR8s"  # must never show in an output or a log line


@dataclass
class ChatServer:
    url: str
    log: Path

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def chat_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``chat_server(scenario)`` -> a running server (see chat_server.py), with the summary
    settings pointing at it and only the first-party plugins loaded."""
    procs: list[subprocess.Popen] = []

    def start(scenario: str = "ok") -> ChatServer:
        log = tmp_path / f"requests-{len(procs)}.jsonl"
        proc = subprocess.Popen([sys.executable, str(SERVER), scenario, str(log)],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(proc)
        assert proc.stdout is not None
        server = ChatServer(f"http://127.0.0.1:{proc.stdout.readline().strip()}/v1", log)
        monkeypatch.setenv("TRANSCRIBER_SUMMARY_URL", server.url)
        monkeypatch.setenv("TRANSCRIBER_SUMMARY_MODEL", "test-model")
        monkeypatch.setenv("TRANSCRIBER_SUMMARY_API_KEY", API_KEY)
        monkeypatch.setenv("TRANSCRIBER_SUMMARY_BACKOFF", "0")
        return server

    monkeypatch.setenv("TRANSCRIBER_LOAD_PLUGINS", "markdown,summary")
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def conversation_transcript(conversation: dict, tmp_path_factory: pytest.TempPathFactory):
    """The CLI's own transcript of examples/conversation.mp4 (tiny.en, offline), its words
    regrouped into one segment per turn of the script and labelled with its speaker (a
    stand-in for diarization, which needs a pyannote model)."""
    out = tmp_path_factory.mktemp("conversation")
    proc = run_cli(str(conversation["path"]), "-f", "json", "--no-diarize", "-o", str(out),
                   env={"TRANSCRIBER_LOAD_PLUGINS": ""})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    transcript = Transcript.model_validate_json((out / "conversation.json").read_text())
    turns = conversation["turns"]
    groups: dict[int, list] = {}
    for word in transcript.words():
        middle = (word.start + word.end) / 2
        n = min(
            range(len(turns)), key=lambda i: abs((turns[i]["start"] + turns[i]["end"]) / 2 - middle)
        )
        groups.setdefault(n, []).append(word)
    segments = [
        Segment(id=i, start=words[0].start, end=words[-1].end, speaker=turns[n]["speaker"],
                text="".join(w.text for w in words), words=words)
        for i, (n, words) in enumerate(sorted(groups.items()))
    ]  # fmt: skip
    return transcript.model_copy(update={"segments": segments})
