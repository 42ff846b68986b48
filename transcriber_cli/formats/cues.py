"""Re-split a transcript into readable subtitle cues from word timestamps.

Batched inference returns long segments, so cues are rebuilt word by word within a
``Shaping``'s limits (characters a line, lines and seconds a cue, the gap between cues), with
breaks at sentence ends, long pauses and speaker changes.

One rule for every subtitle format: a line's width counts the characters a viewer sees on
screen. SRT shows its speaker label (``[SPEAKER_00] ``) as text, so the label counts; a WebVTT
voice span (``<v SPEAKER_00>``) is markup that players do not print, so it does not. The same
words can therefore need more SRT cues than VTT cues.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from transcriber_cli.formats.shaping import DEFAULT, Shaping
from transcriber_cli.transcript import Transcript, Word

MAX_CHARS = DEFAULT.max_chars
MAX_LINES = DEFAULT.max_lines
MAX_DURATION = DEFAULT.max_duration
PAUSE_BREAK = 1.5  # seconds of silence that end a cue
MIN_DURATION = DEFAULT.min_duration
_SENTENCE_END = re.compile(r"[.!?…。？！]['\")\]]*$")


@dataclass
class Cue:
    start: float
    end: float
    lines: list[str]
    speaker: str | None = None
    # Start time of each word a viewer sees, in reading order (for WebVTT highlighting).
    word_starts: list[float] = field(default_factory=list)

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


def _split_long(word: Word, width: int) -> list[Word]:
    """A word wider than a line is cut into line-wide pieces, its time shared by length
    (a hard break reads better than a line running off the screen)."""
    text = word.text.strip()
    if len(text) <= width:
        return [word]
    pieces = [text[i : i + width] for i in range(0, len(text), width)]
    step = (word.end - word.start) / len(pieces)
    return [
        word.model_copy(
            update={"text": " " + p, "start": word.start + i * step,
                    "end": word.start + (i + 1) * step}
        )
        for i, p in enumerate(pieces)
    ]  # fmt: skip


def _word_starts(words: list[Word]) -> list[float]:
    """The start of each word as ``join_words`` shows it: a token without a leading space
    (",000" after "$20") joins the word before it."""
    starts: list[float] = []
    for w in words:
        parts = w.text.split()
        for i, _ in enumerate(parts):
            if i == 0 and starts and not w.text[:1].isspace():
                continue
            starts.append(w.start)
    return starts


def build_cues(
    transcript: Transcript,
    shaping: Shaping = DEFAULT,
    *,
    visible_label: Callable[[str | None], str] | None = None,
) -> list[Cue]:
    """Group words into cues that respect every limit of ``shaping``. ``visible_label(speaker)``
    is text the format prints before a cue's first line; it counts towards that line's width."""
    cues: list[Cue] = []
    current: list[Word] = []

    def label(speaker: str | None) -> str:
        return visible_label(speaker) if visible_label else ""

    def render(words: list[Word]) -> list[str] | None:
        text = label(words[0].speaker) + join_words(words)
        return wrap_lines(text, shaping.max_chars, shaping.max_lines)

    def flush() -> None:
        if current:
            lines = render(current) or [join_words(current)]
            cues.append(
                Cue(current[0].start, current[-1].end, lines, current[0].speaker,
                    _word_starts(current))
            )  # fmt: skip
            current.clear()

    for token in _tokens(transcript):
        if not token.text.strip():
            continue
        width = max(1, shaping.max_chars - len(label(token.speaker)))
        for word in _split_long(token, width):
            if current:
                prev = current[-1]
                if (
                    word.speaker != current[0].speaker
                    or word.start - prev.end > PAUSE_BREAK
                    or word.end - current[0].start > shaping.max_duration
                    or render([*current, word]) is None
                ):
                    flush()
            current.append(word)
            if _SENTENCE_END.search(word.text.strip()):
                flush()
    flush()
    return _fix_timing(cues, shaping)


def _fix_timing(cues: list[Cue], shaping: Shaping) -> list[Cue]:
    """Every cue lasts between the minimum and maximum duration and keeps the minimum gap to
    the next. Where a cue is too short to end a gap before the next one starts, the next
    starts later (by at most the minimum duration plus the gap)."""
    for i, cue in enumerate(cues):
        cue.end = min(max(cue.end, cue.start + shaping.min_duration),
                      cue.start + shaping.max_duration)  # fmt: skip
        if i + 1 == len(cues):
            break
        nxt = cues[i + 1]
        latest_end = nxt.start - shaping.min_gap
        if cue.end > latest_end:
            if latest_end - cue.start >= shaping.min_duration:
                cue.end = latest_end
            else:
                cue.end = cue.start + shaping.min_duration
                nxt.start = cue.end + shaping.min_gap
                nxt.end = max(nxt.end, nxt.start)
    return cues


def format_timestamp(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal}{millis:03d}"
