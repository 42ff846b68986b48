"""Parsers for our output files, so tests read them back the way a player or a tool would."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SRT_TIME = r"(\d\d):(\d\d):(\d\d),(\d\d\d)"
_VTT_TIME = r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)"


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


@dataclass
class ParsedCue:
    start: float
    end: float
    lines: list[str]


def parse_srt(text: str) -> list[ParsedCue]:
    """Strict: numbered blocks 1..n, a timing line, one or more text lines, blank separators."""
    cues = []
    blocks = [b for b in text.strip("\n").split("\n\n") if b]
    for n, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(n), f"cue number {lines[0]!r}, expected {n}"
        m = re.fullmatch(rf"{_SRT_TIME} --> {_SRT_TIME}", lines[1])
        assert m, f"bad timing line {lines[1]!r}"
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        assert end > start, block
        assert len(lines) >= 3 and all(ln.strip() for ln in lines[2:]), block
        cues.append(ParsedCue(start, end, lines[2:]))
    return cues


def parse_vtt(text: str) -> list[ParsedCue]:
    assert text.startswith("WEBVTT\n"), "missing WEBVTT header"
    cues = []
    for block in [b for b in text.strip("\n").split("\n\n")[1:] if b]:
        lines = block.split("\n")
        m = re.fullmatch(rf"{_VTT_TIME} --> {_VTT_TIME}", lines[0])
        assert m, f"bad timing line {lines[0]!r}"
        start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
        assert end > start, block
        cues.append(ParsedCue(start, end, lines[1:]))
    return cues


_SRT_PREFIX = re.compile(r"^\[([^\]]+)\] ")
_VOICE = re.compile(r"^<v ([^>]+)>(.*)</v>$")


def srt_speaker(cue: ParsedCue) -> str | None:
    m = _SRT_PREFIX.match(cue.lines[0])
    return m.group(1) if m else None


def vtt_speakers(cue: ParsedCue) -> list[str | None]:
    """The voice of each line (every line of a cue carries its own ``<v>`` span)."""
    out = []
    for line in cue.lines:
        m = _VOICE.match(line)
        out.append(m.group(1) if m else None)
    return out


def parse_tsv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        cells = line.split("\t")
        assert len(cells) == len(header), f"{len(cells)} cells in {line!r}"
        rows.append(dict(zip(header, cells, strict=True)))
    return header, rows


@dataclass
class RttmLine:
    uri: str
    start: float
    duration: float
    speaker: str


def parse_rttm(text: str) -> list[RttmLine]:
    """Standard 10-field SPEAKER lines, as pyannote.database / dscore read them."""
    out = []
    for line in text.strip("\n").split("\n"):
        if not line:
            continue
        f = line.split(" ")
        assert len(f) == 10, line
        assert f[0] == "SPEAKER" and f[2] == "1", line
        assert f[5] == f[6] == f[8] == f[9] == "<NA>", line
        assert float(f[4]) > 0, line
        out.append(RttmLine(f[1], float(f[3]), float(f[4]), f[7]))
    return out


def parse_txt(text: str) -> list[tuple[str, str]]:
    """``[SPEAKER] words`` paragraphs."""
    out = []
    for line in text.strip("\n").split("\n"):
        m = re.fullmatch(r"\[([^\]]+)\] (.+)", line)
        assert m, f"no speaker label in {line!r}"
        out.append((m.group(1), m.group(2)))
    return out
