"""Plugins: built-ins and third-party formats through the same pluggy hooks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli
from transcriber_cli import hookimpl
from transcriber_cli.formats.registry import available_formats, parse_formats
from transcriber_cli.plugins import get_plugin_manager, plugin_names, run_postprocessors
from transcriber_cli.transcript import Segment, Transcript


def test_builtins_and_the_markdown_plugin_are_registered() -> None:
    names = plugin_names()
    assert "transcriber_cli.formats.builtin" in names and "transcriber_cli.engine.sources" in names
    assert "markdown" in names  # plugins/transcriber-markdown, found by its entry point
    assert available_formats()["md"].extension == "md"
    assert "md" not in [f.name for f in parse_formats("all")]
    assert [f.name for f in parse_formats("all,md")][-1] == "md"


class Upper:
    @hookimpl
    def process_transcript(self, transcript: Transcript) -> Transcript:
        return transcript.model_copy(
            update={
                "segments": [
                    s.model_copy(update={"text": s.text.upper()}) for s in transcript.segments
                ]
            }
        )


class Suffix:
    @hookimpl
    def process_transcript(self, transcript: Transcript) -> Transcript:
        return transcript.model_copy(
            update={
                "segments": [
                    s.model_copy(update={"text": s.text + "!"}) for s in transcript.segments
                ]
            }
        )


def test_postprocessors_chain_in_registration_order() -> None:
    pm = get_plugin_manager()
    upper, suffix = Upper(), Suffix()
    pm.register(upper)
    pm.register(suffix)
    try:
        t = Transcript(segments=[Segment(id=0, start=0, end=1, text="hi")])
        assert run_postprocessors(t).segments[0].text == "HI!"
    finally:
        pm.unregister(upper)
        pm.unregister(suffix)


@pytest.mark.slow
def test_markdown_plugin_through_the_cli(tmp_path: Path, conversation: dict) -> None:
    src = tmp_path / "standup.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(str(src), "-f", "md", "--no-diarize")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "standup.md").read_text()
    assert text.startswith("# standup.mp4\n") and "Language: en" in text
    assert "[00:00] Good morning" in text
