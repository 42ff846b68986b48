"""The summary plugin against a real chat-completions server process: answers, chunking,
retries, timeouts and every kind of bad reply."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
from transcriber_summary import write_summary
from transcriber_summary.summarize import chunks, clock, transcript_lines

from tests.conftest import run_cli
from tests.plugins.conftest import API_KEY
from transcriber_cli.formats.registry import parse_formats
from transcriber_cli.plugins import get_plugin_manager
from transcriber_cli.transcript import Transcript


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_short_transcript_is_one_call(chat_server, conversation_transcript, caplog) -> None:
    server = chat_server("ok")
    text = write_summary(conversation_transcript)
    (request,) = server.requests()
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {API_KEY}"
    assert request["body"]["model"] == "test-model"
    sent = request["body"]["messages"][1]["content"]
    assert sent.startswith("[00:00] alice: Good morning")
    assert "] bob: Thanks" in sent
    lines = sent.splitlines()
    assert text.startswith("# Summary of conversation.mp4\n")
    assert f"{len(lines)} lines from 00:00" in text
    assert "## Decisions\n\n- Keep: Good morning" in text
    assert "## Action items\n\n- **alice** [00:00]: follow up on Good morning" in text
    assert _warnings(caplog) == []


def test_the_format_is_opt_in() -> None:
    import transcriber_summary

    pm = get_plugin_manager()  # built once per process: add the plugin if this one lacks it
    added = pm.get_plugin("summary") is None
    if added:
        pm.register(transcriber_summary, name="summary")
    try:
        assert "summary" not in [f.name for f in parse_formats("all")]
        (fmt,) = parse_formats("summary")
        assert fmt.extension == "summary.md" and fmt.write is write_summary
    finally:
        if added:
            pm.unregister(name="summary")


def long_transcript(base: Transcript, copies: int) -> Transcript:
    """The real transcript said ``copies`` times in a row."""
    segments = []
    for n in range(copies):
        for seg in base.segments:
            shift = n * base.duration
            segments.append(seg.model_copy(update={"id": len(segments), "start": seg.start + shift,
                                                   "end": seg.end + shift}))  # fmt: skip
    return base.model_copy(update={"segments": segments, "duration": base.duration * copies})


def test_a_long_transcript_is_chunked_and_merged(
    chat_server, conversation_transcript, monkeypatch
) -> None:
    server = chat_server("ok")
    monkeypatch.setenv("TRANSCRIBER_SUMMARY_CHUNK_CHARS", "500")
    transcript = long_transcript(conversation_transcript, 6)
    text = write_summary(transcript)
    *parts, merge = server.requests()
    sent = [p["body"]["messages"][1]["content"] for p in parts]
    assert len(sent) == len(chunks(transcript_lines(transcript), 500)) >= 6
    assert all(len(s) <= 500 for s in sent)
    assert "\n".join(sent).splitlines() == transcript_lines(transcript)  # each line once, whole
    merged = merge["body"]["messages"][1]["content"]
    assert "merge" in merge["body"]["messages"][0]["content"]
    for n, chunk in enumerate(sent, 1):
        first = chunk.splitlines()[0]
        assert f"Part {n} of {len(sent)}:" in merged and first[1:6] in merged
    assert f"Merged {len(sent)} parts: " in text
    sixth = 5 * conversation_transcript.duration + conversation_transcript.segments[0].start
    assert f"- **alice** [{clock(sixth)}]: follow up on Good morning" in text  # the 6th copy


def test_a_500_is_retried(chat_server, conversation_transcript, caplog) -> None:
    server = chat_server("flaky")
    text = write_summary(conversation_transcript)
    assert len(server.requests()) == 2
    assert "## Action items\n\n- **alice**" in text
    assert _warnings(caplog) == []


def test_a_429_waits_for_retry_after(chat_server, conversation_transcript) -> None:
    server = chat_server("busy")  # and the fixture's backoff is 0: the wait is the server's
    started = time.monotonic()
    text = write_summary(conversation_transcript)
    assert 1.0 <= time.monotonic() - started < 10
    assert len(server.requests()) == 2 and "## Action items\n\n- **alice**" in text


def test_a_closed_port_is_retried_then_one_line(
    chat_server, conversation_transcript, monkeypatch, free_tcp_port: int, caplog
) -> None:
    chat_server("ok")
    monkeypatch.setenv("TRANSCRIBER_SUMMARY_URL", f"http://127.0.0.1:{free_tcp_port}/v1")
    monkeypatch.setenv("TRANSCRIBER_SUMMARY_RETRIES", "2")
    text = write_summary(conversation_transcript)
    reason = "cannot connect (ConnectError) after 3 attempt(s)"
    assert text.endswith(f"_No summary: {reason}._\n")
    assert _warnings(caplog) == [f"summary of conversation.mp4 failed: {reason}"]


def test_a_slow_endpoint_times_out(
    chat_server, conversation_transcript, monkeypatch, caplog
) -> None:
    server = chat_server("slow")
    monkeypatch.setenv("TRANSCRIBER_SUMMARY_TIMEOUT", "0.5")
    monkeypatch.setenv("TRANSCRIBER_SUMMARY_RETRIES", "1")
    text = write_summary(conversation_transcript)
    assert len(server.requests()) == 2
    reason = "no reply within 0.5 s after 2 attempt(s)"
    assert text == f"# Summary of conversation.mp4\n\n_No summary: {reason}._\n"
    assert _warnings(caplog) == [f"summary of conversation.mp4 failed: {reason}"]


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("unauthorized", "the endpoint refused the API key (HTTP 401)"),
        ("not-json", "the endpoint's reply is not JSON"),
        ("no-choices", "the endpoint's reply has no choices"),
        ("prose", "the model's answer is not the JSON summary asked for"),
    ],
)
def test_bad_replies_are_one_line(
    chat_server, conversation_transcript, caplog, scenario: str, reason: str
) -> None:
    server = chat_server(scenario)
    caplog.set_level(logging.DEBUG)
    text = write_summary(conversation_transcript)
    assert len(server.requests()) == 1  # none of these is worth a retry
    assert text.endswith(f"_No summary: {reason}._\n")
    assert _warnings(caplog) == [f"summary of conversation.mp4 failed: {reason}"]
    assert API_KEY not in caplog.text


def test_no_endpoint_does_nothing_and_says_so_once(conversation_transcript, caplog) -> None:
    import transcriber_summary

    transcriber_summary._said_unconfigured = False
    texts = [write_summary(conversation_transcript) for _ in range(2)]
    assert (
        texts[0]
        == texts[1]
        == ("# Summary of conversation.mp4\n\n_No summary: no chat endpoint configured._\n")
    )
    assert len(_warnings(caplog)) == 1 and "TRANSCRIBER_SUMMARY_URL" in caplog.text


@pytest.mark.slow
def test_summary_through_the_cli(chat_server, conversation: dict, tmp_path: Path) -> None:
    server = chat_server("ok")
    src = tmp_path / "standup.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(str(src), "-f", "txt,summary", "--no-diarize", "-v")
    assert proc.returncode == 0, proc.stderr
    assert len(server.requests()) == 1
    summary = (tmp_path / "standup.summary.md").read_text()
    assert summary.startswith("# Summary of standup.mp4\n")
    assert "- **SPEAKER** [00:00]: follow up on Good morning" in summary
    assert "Good morning" in (tmp_path / "standup.txt").read_text()
    assert API_KEY not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_failing_summary_keeps_the_transcript(
    chat_server, conversation: dict, tmp_path: Path
) -> None:
    chat_server("unauthorized")
    src = tmp_path / "standup.mp4"
    shutil.copy(conversation["path"], src)
    proc = run_cli(str(src), "-f", "txt,summary", "--no-diarize")
    assert proc.returncode == 0, proc.stderr
    assert "Good morning" in (tmp_path / "standup.txt").read_text()
    warning = "WARNING transcriber_summary: summary of standup.mp4 failed: " \
        "the endpoint refused the API key (HTTP 401)"  # fmt: skip
    assert [line for line in proc.stderr.splitlines() if "summary" in line] == [warning]
    assert "(HTTP 401)._" in (tmp_path / "standup.summary.md").read_text()


def test_settings_from_the_config_file(
    chat_server, conversation_transcript, monkeypatch, isolated_settings: Path, caplog
) -> None:
    server = chat_server("ok")
    for name in ("TRANSCRIBER_SUMMARY_URL", "TRANSCRIBER_SUMMARY_MODEL"):
        monkeypatch.delenv(name)
    config = isolated_settings / "config.toml"
    config.write_text(f'summary_url = "{server.url}"\nsummary_model = "from-config"\n')
    assert "## Action items\n\n- **alice**" in write_summary(conversation_transcript)
    assert server.requests()[0]["body"]["model"] == "from-config"
    config.write_text(f'summary_url = "{server.url}"\nsummary_timeout = -1\n')
    text = write_summary(conversation_transcript)
    assert text.endswith("_No summary: invalid summary settings._\n")
    assert _warnings(caplog) == [
        "summary of conversation.mp4 skipped: invalid setting summary_timeout: "
        "Input should be greater than 0"
    ]
    assert len(server.requests()) == 1
