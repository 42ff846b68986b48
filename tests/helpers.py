"""Parsers used to check that our outputs read back (independent of our writers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TS = r"(\d{2}):(\d{2}):(\d{2})[,.](\d{3})"


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


@dataclass
class ParsedCue:
    start: float
    end: float
    lines: list[str]


def parse_srt(text: str) -> list[ParsedCue]:
    cues = []
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    for i, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(i), f"cue {i} has index {lines[0]!r}"
        m = re.fullmatch(_TS + " --> " + _TS, lines[1])
        assert m, f"bad timing line {lines[1]!r}"
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        assert lines[2:], f"cue {i} has no text"
        cues.append(ParsedCue(start, end, lines[2:]))
    return cues


def parse_vtt(text: str) -> list[ParsedCue]:
    assert text.startswith("WEBVTT\n")
    cues = []
    for block in text.split("\n\n")[1:]:
        if not block.strip():
            continue
        lines = block.strip("\n").split("\n")
        m = re.fullmatch(_TS + " --> " + _TS, lines[0])
        assert m, f"bad timing line {lines[0]!r}"
        cues.append(ParsedCue(_seconds(*m.groups()[:4]), _seconds(*m.groups()[4:]), lines[1:]))
    return cues


def normalize(text: str) -> str:
    text = text.lower().replace("$20,000", "twenty thousand dollars")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize(reference), normalize(hypothesis))
