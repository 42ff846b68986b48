"""SRT and WebVTT from re-split cues."""

from __future__ import annotations

from transcriber_cli.formats.cues import Cue, build_cues, format_timestamp
from transcriber_cli.formats.shaping import DEFAULT, Shaping
from transcriber_cli.transcript import Transcript


def srt_label(speaker: str | None) -> str:
    """SRT has no speaker markup: the label is plain text on the first line of a cue."""
    return f"[{speaker}] " if speaker else ""


def write_srt(transcript: Transcript, shaping: Shaping = DEFAULT) -> str:
    label = srt_label if transcript.speakers else None
    cues = build_cues(transcript, shaping, visible_label=label)
    blocks = [
        f"{i}\n{format_timestamp(c.start, decimal=',')} --> "
        f"{format_timestamp(c.end, decimal=',')}\n{c.text}\n"
        for i, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _highlighted(cue: Cue) -> list[str]:
    """Karaoke lines (WebVTT 'cue timestamps'): ``<00:00:01.000><c>word</c>`` before each word
    after the first, so a player styles words as ``:past`` / ``:future`` while they are
    spoken. The spec wants them inside the cue and increasing: others are left out."""
    starts = iter(cue.word_starts)
    t = cue.start
    out = []
    for line in cue.lines:
        parts = []
        for word in line.split(" "):
            t = max(next(starts, t), t)
            text = f"<c>{_escape_vtt(word)}</c>"
            inside = round(cue.start * 1000) < round(t * 1000) < round(cue.end * 1000)
            parts.append(f"<{format_timestamp(t)}>{text}" if inside else text)
        out.append(" ".join(parts))
    return out


def write_vtt(transcript: Transcript, shaping: Shaping = DEFAULT) -> str:
    cues = build_cues(transcript, shaping)  # voice spans are markup, not visible text
    out = ["WEBVTT\n"]
    for c in cues:
        lines = _highlighted(c) if shaping.highlight_words else _escape_vtt(c.text).split("\n")
        if c.speaker:
            # A voice span per line keeps the speaker on every line of a cue.
            voice = _escape_vtt(c.speaker)
            lines = [f"<v {voice}>{line}</v>" for line in lines]
        text = "\n".join(lines)
        out.append(f"{format_timestamp(c.start)} --> {format_timestamp(c.end)}\n{text}\n")
    return "\n".join(out)
