"""Transcript -> chunks at segment boundaries -> one JSON answer per chunk -> a merge call when
there was more than one -> Markdown."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from transcriber_cli.transcript import Transcript
from transcriber_summary.client import ChatClient, SummaryError

SHAPE = (
    'Answer with one JSON object and nothing else: {"summary": "a few sentences", '
    '"decisions": ["..."], "action_items": [{"speaker": "who owns it", "time": "MM:SS", '
    '"item": "what to do"}]}. Use the speaker labels and times of the transcript; empty '
    "lists when there are none."
)
CHUNK_PROMPT = (
    "You summarise part of a meeting transcript. Lines are [MM:SS] SPEAKER: text. " + SHAPE
)
MERGE_PROMPT = (
    "You merge partial summaries of consecutive parts of one meeting into one summary of the "
    "whole meeting, keeping every decision and action item once. " + SHAPE
)


class ActionItem(BaseModel):
    speaker: str | None = None
    time: str | None = None
    item: str


class Summary(BaseModel):
    summary: str
    decisions: list[str] = []
    action_items: list[ActionItem] = []


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def transcript_lines(transcript: Transcript) -> list[str]:
    return [
        f"[{clock(s.start)}] {s.speaker or 'SPEAKER'}: {s.text.strip()}"
        for s in transcript.segments
        if s.text.strip()
    ]


def chunks(lines: list[str], limit: int) -> list[str]:
    """Consecutive lines joined up to ``limit`` characters; a line is never split (a single
    longer line is a chunk of its own)."""
    out: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if out[-1] and size + len(line) + 1 > limit:
            out.append([])
            size = 0
        out[-1].append(line)
        size += len(line) + 1
    return ["\n".join(chunk) for chunk in out if chunk]


def parse_answer(content: str) -> Summary:
    """The model's JSON (a ```json fence is tolerated); anything else is one error line."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return Summary.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError):
        raise SummaryError("the model's answer is not the JSON summary asked for") from None


def summarize(transcript: Transcript, client: ChatClient, limit: int) -> Summary:
    parts = chunks(transcript_lines(transcript), limit)
    if not parts:
        return Summary(summary="The transcript is empty.")
    partial = [parse_answer(client.complete(CHUNK_PROMPT, part)) for part in parts]
    if len(partial) == 1:
        return partial[0]
    merged = "\n\n".join(
        f"Part {n} of {len(partial)}:\n{p.model_dump_json()}" for n, p in enumerate(partial, 1)
    )
    return parse_answer(client.complete(MERGE_PROMPT, merged))


def to_markdown(title: str, summary: Summary) -> str:
    out = [f"# Summary of {title}", "", summary.summary.strip(), "", "## Decisions", ""]
    out += [f"- {d.strip()}" for d in summary.decisions] or ["None recorded."]
    out += ["", "## Action items", ""]
    for a in summary.action_items:
        who = f"**{a.speaker}**" if a.speaker else "**unassigned**"
        when = f" [{a.time}]" if a.time else ""
        out.append(f"- {who}{when}: {a.item.strip()}")
    if not summary.action_items:
        out.append("None recorded.")
    return "\n".join(out) + "\n"


def unavailable(title: str, reason: str) -> str:
    return f"# Summary of {title}\n\n_No summary: {reason}._\n"
