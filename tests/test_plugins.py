"""Plugins: built-ins and third-party formats through the same pluggy hooks."""

from __future__ import annotations

import json
import os
import re
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
    every = ["json", "md", "qa", "rttm", "srt", "summary", "tsv", "txt", "vtt"]
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


@pytest.mark.slow
def test_markdown_plugin_paragraphs_follow_the_speakers(tmp_path: Path, conversation: dict) -> None:
    """One paragraph per speaker turn of the script, even where one Whisper segment holds
    words of both speakers."""
    src = tmp_path / "standup.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(str(src), "-f", "md", "--diarize", "--diarization-model", "builtin")
    assert proc.returncode == 0, proc.stderr
    paragraphs = (tmp_path / "standup.md").read_text().split("\n\n")[2:]
    turns = conversation["turns"]
    first_seen = list(dict.fromkeys(t["speaker"] for t in turns))
    assert [p.split(" ", 1)[0] for p in paragraphs if p] == [
        f"**SPEAKER_{first_seen.index(t['speaker']):02d}**" for t in turns
    ]
    assert paragraphs[0].startswith("**SPEAKER_00** [00:00] Good morning")
    # at 5.8 s; tiny.en writes "Thanks, Alice." with MKL (Intel) and "Thanks Alice," with oneDNN
    assert re.match(r"\*\*SPEAKER_01\*\* \[00:0[56]\] Thanks,? Alice[.,]", paragraphs[1])


BROKEN_PLUGINS = {
    "broken_import.py": "import not_a_module_anywhere\n",
    "raising_hook.py": (
        "from transcriber_cli import hookimpl\n"
        "@hookimpl\n"
        "def register_formats(register):\n"
        "    raise RuntimeError('boom in register_formats')\n"
    ),
    "raising_post.py": (
        "from transcriber_cli import hookimpl\n"
        "@hookimpl\n"
        "def process_transcript(transcript):\n"
        "    raise ValueError('boom in process_transcript')\n"
    ),
}


@pytest.fixture
def broken_plugins(tmp_path: Path) -> dict:
    """Three plugins installed on the fly (a dist-info directory on PYTHONPATH): one fails to
    import, one raises in register_formats, one in process_transcript."""
    site = tmp_path / "site"
    info = site / "broken_plugins-9.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\nVersion: 9.1\n")
    points = [f"{Path(name).stem.replace('_', '-')} = {Path(name).stem}" for name in BROKEN_PLUGINS]
    (info / "entry_points.txt").write_text("[transcriber]\n" + "\n".join(points) + "\n")
    for name, code in BROKEN_PLUGINS.items():
        (site / name).write_text(code)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "TRANSCRIBER_LOAD_PLUGINS": None}


def test_plugins_list_shows_where_plugins_come_from_and_the_broken_ones(broken_plugins) -> None:
    proc = run_cli("plugins", "list", "--json", program="transcriber", env=broken_plugins)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    summary = plugins["summary"]
    assert summary["distribution"] == "transcriber-summary" and summary["version"] == "0.1.0"
    assert summary["entry_point"] == "transcriber_summary" and summary["hooks"] == [
        "register_formats",
        "register_secrets",
    ]
    assert summary["module_file"].endswith("transcriber_summary/__init__.py")
    assert plugins["transcriber_cli.formats.builtin"]["hooks"] == ["register_formats"]
    assert plugins["raising-post"] | {"module_file": None} == {
        "name": "raising-post", "distribution": "broken-plugins", "version": "9.1",
        "entry_point": "raising_post", "module_file": None, "hooks": ["process_transcript"],
        "status": "loaded", "error": None,
    }  # fmt: skip
    assert plugins["broken-import"]["error"] == (
        "ModuleNotFoundError: No module named 'not_a_module_anywhere'"
    )
    assert plugins["raising-hook"]["error"] == "RuntimeError: boom in register_formats"
    assert plugins["raising-hook"]["hooks"] == [] and plugins["raising-hook"]["status"] == "broken"
    assert sorted(proc.stderr.splitlines()) == [  # one line each, and nothing else
        "plugin broken-import (broken-plugins) skipped: "
        "ModuleNotFoundError: No module named 'not_a_module_anywhere'",
        "plugin raising-hook (broken-plugins) skipped: RuntimeError: boom in register_formats",
    ]
    text = run_cli("plugins", "list", program="transcriber", env=broken_plugins).stdout
    assert "raising-hook (broken-plugins 9.1, entry point raising-hook = raising_hook)\n" in text
    assert "  skipped: RuntimeError: boom in register_formats\n" in text


def test_plugins_list_shows_the_ones_left_out(broken_plugins) -> None:
    env = {**broken_plugins, "TRANSCRIBER_LOAD_PLUGINS": "markdown"}
    proc = run_cli("plugins", "list", "--json", program="transcriber", env=env)
    assert proc.returncode == 0 and proc.stderr == ""  # the broken ones are not even imported
    plugins = json.loads(proc.stdout)["plugins"]
    assert [(p["name"], p["status"]) for p in plugins] == [
        ("transcriber_cli.formats.builtin", "loaded"),
        ("transcriber_cli.engine.sources", "loaded"),
        ("markdown", "loaded"),
        ("broken-import", "not loaded"),
        ("raising-hook", "not loaded"),
        ("raising-post", "not loaded"),
        ("summary", "not loaded"),
    ]
    text = run_cli("plugins", "list", program="transcriber", env=env).stdout
    assert "summary (transcriber-summary 0.1.0, entry point summary = transcriber_summary)\n" \
        "  not loaded: not in TRANSCRIBER_LOAD_PLUGINS\n" in text  # fmt: skip


@pytest.mark.slow
def test_a_run_survives_broken_plugins(broken_plugins, tmp_path: Path, conversation) -> None:
    src = tmp_path / "standup.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(str(src), "-f", "txt,md", "--no-diarize", env=broken_plugins)
    assert proc.returncode == 0, proc.stderr
    assert "Good morning" in (tmp_path / "standup.txt").read_text()
    assert "[00:00] Good morning" in (tmp_path / "standup.md").read_text()
    lines = [line for line in proc.stderr.splitlines() if "plugin" in line]
    assert len(lines) == 3 and "plugin raising-post: process_transcript failed, skipped: " \
        "ValueError: boom in process_transcript" in lines[-1]  # fmt: skip


@pytest.mark.slow
def test_a_writer_that_raises_fails_its_file_alone(tmp_path: Path, conversation) -> None:
    """A plugin's format writer that raises (a bug, not one of our errors) for one file of
    a folder: that file fails in one line with nothing of it written, the other is done.
    It used to stop the whole run with a traceback, the second file never transcribed."""
    site = tmp_path / "site"
    info = site / "buggy_writer-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: buggy-writer\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[transcriber]\nbuggy = buggy_writer\n")
    (site / "buggy_writer.py").write_text(
        "from transcriber_cli import hookimpl\n"
        "from transcriber_cli.formats import OutputFormat\n"
        "def write(transcript):\n"
        "    if transcript.source.startswith('a'):\n"
        "        raise KeyError('speaker')\n"
        "    return transcript.text.upper()\n"
        "@hookimpl\n"
        "def register_formats(register):\n"
        "    register(OutputFormat('buggy', 'bug', write, default=False))\n"
    )
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(conversation["path"], folder / name)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": path, "TRANSCRIBER_LOAD_PLUGINS": None}
    proc = run_cli(str(folder), "-f", "txt,buggy", "--no-diarize", env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "the buggy writer failed: KeyError: 'speaker'" in proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["a.mp4", "b.bug", "b.mp4", "b.txt"]
    assert "GOOD MORNING" in (folder / "b.bug").read_text()
