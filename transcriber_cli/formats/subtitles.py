"""SRT and WebVTT from re-split cues."""

from __future__ import annotations

from transcriber_cli.formats.cues import build_cues, format_timestamp
from transcriber_cli.transcript import Transcript


def write_srt(transcript: Transcript) -> str:
    cues = build_cues(transcript, prefix_speaker=bool(transcript.speakers))
    blocks = [
        f"{i}\n{format_timestamp(c.start, decimal=',')} --> "
        f"{format_timestamp(c.end, decimal=',')}\n{c.text}\n"
        for i, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_vtt(transcript: Transcript) -> str:
    cues = build_cues(transcript)
    out = ["WEBVTT\n"]
    for c in cues:
        text = _escape_vtt(c.text)
        if c.speaker:
            # A voice span per line keeps the speaker on every line of a cue.
            voice = _escape_vtt(c.speaker)
            text = "\n".join(f"<v {voice}>{line}</v>" for line in text.split("\n"))
        out.append(f"{format_timestamp(c.start)} --> {format_timestamp(c.end)}\n{text}\n")
    return "\n".join(out)
