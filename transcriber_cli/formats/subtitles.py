"""SRT and WebVTT from re-split cues."""

from __future__ import annotations

from transcriber_cli.formats.cues import build_cues, format_timestamp
from transcriber_cli.transcript import Transcript


def srt_label(speaker: str | None) -> str:
    """SRT has no speaker markup: the label is plain text on the first line of a cue."""
    return f"[{speaker}] " if speaker else ""


def write_srt(transcript: Transcript) -> str:
    cues = build_cues(transcript, visible_label=srt_label if transcript.speakers else None)
    blocks = [
        f"{i}\n{format_timestamp(c.start, decimal=',')} --> "
        f"{format_timestamp(c.end, decimal=',')}\n{c.text}\n"
        for i, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_vtt(transcript: Transcript) -> str:
    cues = build_cues(transcript)  # voice spans are markup, not visible text: no label width
    out = ["WEBVTT\n"]
    for c in cues:
        text = _escape_vtt(c.text)
        if c.speaker:
            # A voice span per line keeps the speaker on every line of a cue.
            voice = _escape_vtt(c.speaker)
            text = "\n".join(f"<v {voice}>{line}</v>" for line in text.split("\n"))
        out.append(f"{format_timestamp(c.start)} --> {format_timestamp(c.end)}\n{text}\n")
    return "\n".join(out)
