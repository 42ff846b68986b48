"""Re-split a transcript into readable subtitle cues from word timestamps.

Batched inference returns long segments, so cues are rebuilt word by word: at most
``max_chars`` per line, ``max_lines`` lines and ``max_duration`` seconds per cue, with
breaks at sentence ends, long pauses and speaker changes.

One rule for every subtitle format: a line's width counts the characters a viewer sees on
screen. SRT shows its speaker label (``[SPEAKER_00] ``) as text, so the label counts; a WebVTT
voice span (``<v SPEAKER_00>``) is markup that players do not print, so it does not. The same
words can therefore need more SRT cues than VTT cues.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from transcriber_cli.transcript import Transcript, Word

MAX_CHARS = 42
MAX_LINES = 2
MAX_DURATION = 7.0
PAUSE_BREAK = 1.5  # seconds of silence that end a cue
MIN_DURATION = 0.3
_SENTENCE_END = re.compile(r"[.!?…。？！]['\")\]]*$")


@dataclass
class Cue:
    start: float
    end: float
    lines: list[str]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def wrap_lines(
    text: str, max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES
) -> list[str] | None:
    """Split ``text`` into at most ``max_lines`` balanced lines of ``max_chars``; None if it
    cannot fit. A single word longer than a line is allowed on its own line."""
    words = text.split()
    if not words:
        return []
    if len(text) <= max_chars:
        return [text]
    if max_lines < 2:
        return None
    best: list[str] | None = None
    best_score = None
    for cut in range(1, len(words)):
        first, rest = " ".join(words[:cut]), words[cut:]
        if len(first) > max_chars and cut > 1:
            break
        tail = wrap_lines(" ".join(rest), max_chars, max_lines - 1)
        if tail is None:
            continue
        lines = [first, *tail]
        score = max(len(ln) for ln in lines)  # prefer balanced lines
        if best_score is None or score < best_score:
            best, best_score = lines, score
    return best


def join_words(words: list[Word]) -> str:
    """Whisper words carry their own leading spaces ("$20" + ",000" reads "$20,000")."""
    return " ".join("".join(w.text for w in words).split())


def _tokens(transcript: Transcript) -> list[Word]:
    """Words when known; otherwise segment text spread over the segment's time."""
    tokens: list[Word] = []
    for seg in transcript.segments:
        if seg.words:
            tokens.extend(seg.words)
            continue
        parts = seg.text.split()
        if not parts:
            continue
        total = sum(len(p) + 1 for p in parts)
        t, span = seg.start, max(seg.end - seg.start, 0.0)
        for part in parts:
            step = span * (len(part) + 1) / total
            tokens.append(Word(start=t, end=t + step, text=" " + part, speaker=seg.speaker))
            t += step
    return tokens


def build_cues(
    transcript: Transcript,
    *,
    max_chars: int = MAX_CHARS,
    max_lines: int = MAX_LINES,
    max_duration: float = MAX_DURATION,
    visible_label: Callable[[str | None], str] | None = None,
) -> list[Cue]:
    """Group words into cues that respect every limit. ``visible_label(speaker)`` is text the
    format prints before a cue's first line; it counts towards that line's width."""
    cues: list[Cue] = []
    current: list[Word] = []

    def label(speaker: str | None) -> str:
        return visible_label(speaker) if visible_label else ""

    def render(words: list[Word]) -> list[str] | None:
        return wrap_lines(label(words[0].speaker) + join_words(words), max_chars, max_lines)

    def flush() -> None:
        if current:
            lines = render(current) or [join_words(current)]
            cues.append(Cue(current[0].start, current[-1].end, lines, current[0].speaker))
            current.clear()

    for word in _tokens(transcript):
        if not word.text.strip():
            continue
        if current:
            prev = current[-1]
            if (
                word.speaker != current[0].speaker
                or word.start - prev.end > PAUSE_BREAK
                or word.end - current[0].start > max_duration
                or render([*current, word]) is None
            ):
                flush()
        current.append(word)
        if _SENTENCE_END.search(word.text.strip()):
            flush()
    flush()
    return _fix_timing(cues)


def _fix_timing(cues: list[Cue]) -> list[Cue]:
    """No overlaps, no zero-length cues (players drop them)."""
    for i, cue in enumerate(cues):
        if cue.end - cue.start < MIN_DURATION:
            cue.end = cue.start + MIN_DURATION
        if i + 1 < len(cues) and cue.end > cues[i + 1].start:
            cue.end = max(cues[i + 1].start, cue.start + 0.01)
    return cues


def format_timestamp(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal}{millis:03d}"
