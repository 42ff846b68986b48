"""Text helpers for checking transcripts against a known script."""

from __future__ import annotations

import re

from tests.parse_outputs import ParsedCue, parse_srt, parse_vtt

__all__ = ["ParsedCue", "normalize", "parse_srt", "parse_vtt", "wer"]


def normalize(text: str) -> str:
    text = text.lower().replace("$20,000", "twenty thousand dollars")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize(reference), normalize(hypothesis))
