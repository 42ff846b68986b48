"""Plugins: built-ins and third-party formats through the same pluggy hooks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def appender(tag: str, **marks: bool):
    """A plugin that appends ``tag`` to every segment: the order of two shows in the text."""

    class Append:
        @hookimpl(**marks)
        def process_transcript(self, transcript: Transcript) -> Transcript:
            segments = [s.model_copy(update={"text": s.text + tag}) for s in transcript.segments]
            return transcript.model_copy(update={"segments": segments})

    return Append()


def test_postprocessors_chain_in_registration_order() -> None:
    pm = get_plugin_manager()
    plugins = [
        appender("-a"),
        appender("-b"),
        appender("-last", trylast=True),
        appender("-first", tryfirst=True),
        appender("-c"),
    ]
    for plugin in plugins:
        pm.register(plugin)
    try:
        t = Transcript(segments=[Segment(id=0, start=0, end=1, text="hi")])
        assert run_postprocessors(t).segments[0].text == "hi-first-a-b-c-last"
    finally:
        for plugin in plugins:
            pm.unregister(plugin)


def test_installed_plugins_load_in_entry_point_order_and_can_be_limited() -> None:
    """TRANSCRIBER_LOAD_PLUGINS chooses which installed plugins load ('' = none)."""
    code = (
        "from transcriber_cli.plugins import plugin_names; "
        "from transcriber_cli.formats.registry import available_formats; "
        "print(plugin_names(), sorted(available_formats()))"
    )

    def names(value: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "TRANSCRIBER_LOAD_PLUGINS"}
        if value is not None:
            env["TRANSCRIBER_LOAD_PLUGINS"] = value
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout.strip()

    builtins = "'transcriber_cli.formats.builtin', 'transcriber_cli.engine.sources'"
    every = ["json", "md", "rttm", "srt", "summary", "tsv", "txt", "vtt"]
    assert names(None) == f"[{builtins}, 'markdown', 'summary'] {every}"
    assert names("markdown") == f"[{builtins}, 'markdown'] {[f for f in every if f != 'summary']}"
    assert names("") == f"[{builtins}] {[f for f in every if f not in ('md', 'summary')]}"
    assert names("not-installed") == names("")


@pytest.mark.slow
def test_markdown_plugin_through_the_cli(tmp_path: Path, conversation: dict) -> None:
    src = tmp_path / "standup.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(str(src), "-f", "md", "--no-diarize")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "standup.md").read_text()
    assert text.startswith("# standup.mp4\n") and "Language: en" in text
    assert "[00:00] Good morning" in text

