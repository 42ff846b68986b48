"""Tab-separated segments (milliseconds, like Whisper's tsv) and the full JSON Transcript."""

from __future__ import annotations

from transcriber_cli.formats.cues import join_words
from transcriber_cli.transcript import Segment, Transcript


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def _speaker_runs(seg: Segment) -> list[tuple[float, float, str | None, str]]:
    """A segment split where the speaker changes (batched Whisper segments run ~30 s and
    often span several speakers); one row when the words are unknown."""
    if not seg.words:
        return [(seg.start, seg.end, seg.speaker, seg.text)]
    runs: list[list] = []
    for w in seg.words:
        if runs and runs[-1][0] == w.speaker:
            runs[-1][1].append(w)
        else:
            runs.append([w.speaker, [w]])
    return [(ws[0].start, ws[-1].end, spk, join_words(ws)) for spk, ws in runs]


def write_tsv(transcript: Transcript) -> str:
    with_speaker = bool(transcript.speakers)
    rows = ["start\tend\tspeaker\ttext" if with_speaker else "start\tend\ttext"]
    for seg in transcript.segments:
        parts = _speaker_runs(seg) if with_speaker else [(seg.start, seg.end, None, seg.text)]
        for start, end, speaker, text in parts:
            if with_speaker and not _clean(text):
                continue
            cells = [str(round(start * 1000)), str(round(end * 1000))]
            if with_speaker:
                cells.append(speaker or "")
            cells.append(_clean(text))
            rows.append("\t".join(cells))
    return "\n".join(rows) + "\n"


def write_json(transcript: Transcript) -> str:
    return transcript.model_dump_json(indent=2) + "\n"
