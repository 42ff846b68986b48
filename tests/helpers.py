"""Helpers shared by tests: text checks against a known script, and models without speakers."""

from __future__ import annotations

import re
import struct
from concurrent.futures import Future
from pathlib import Path

from tests.parse_outputs import ParsedCue, parse_srt, parse_vtt

__all__ = ["ParsedCue", "no_speakers", "normalize", "parse_srt", "parse_vtt", "wer"]


def normalize(text: str) -> str:
    text = text.lower().replace("$20,000", "twenty thousand dollars")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize(reference), normalize(hypothesis))


def assert_same_words(ours, theirs, seconds: float) -> None:
    """Two transcripts (``Transcript``) with the same text and words, every word's start and
    end within ``seconds`` of the other's."""
    assert len(ours.text.split()) > 60
    assert ours.text == theirs.text, _first_difference(ours.text, theirs.text)
    words = [w for s in ours.segments for w in s.words]
    their_words = [w for s in theirs.segments for w in s.words]
    assert [w.text for w in words] == [w.text for w in their_words]
    for a, b in zip(words, their_words, strict=True):
        assert abs(a.start - b.start) <= seconds and abs(a.end - b.end) <= seconds


def _first_difference(ours: str, theirs: str) -> str:
    a, b = ours.split(), theirs.split()
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    lo = max(i - 5, 0)
    return f"word {i}: {' '.join(a[lo : i + 8])!r} against {' '.join(b[lo : i + 8])!r}"


def no_speakers() -> Future:
    """A diarizer load that is done with none: ``LoadedModels(engine, no_speakers())``."""
    done: Future = Future()
    done.set_result((None, {"status": "skipped", "reason": "disabled"}))
    return done


def wav_without_data(path: Path, gib: int = 1) -> Path:
    """A WAV header with no data chunk before ``gib`` GiB of zeros (a copy cut short, then
    padded; sparse, so nothing is written): ffprobe searches all of it for the chunk, 86 s a
    GiB on the machine where this was found."""
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + fmt
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + gib * 1024**3)
    return path
