"""RTTM (NIST Rich Transcription Time Marked): one ``SPEAKER`` line per diarization turn.

``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``, the form pyannote and
the scoring tools (dscore, pyannote.metrics) read. Fields are space separated, so spaces in
the file name or a speaker name become underscores.
"""

from __future__ import annotations

from transcriber_cli.transcript import Transcript


def _field(text: str | None, default: str) -> str:
    cleaned = "_".join((text or "").split())
    return cleaned or default


def write_rttm(transcript: Transcript) -> str:
    uri = _field(transcript.source.rsplit(".", 1)[0] if transcript.source else None, "audio")
    lines = [
        f"SPEAKER {uri} 1 {turn.start:.3f} {turn.end - turn.start:.3f} <NA> <NA> "
        f"{_field(turn.speaker, 'UNKNOWN')} <NA> <NA>"
        for turn in sorted(transcript.turns, key=lambda t: (t.start, t.end))
        if turn.end > turn.start
    ]
    return "\n".join(lines) + ("\n" if lines else "")
