"""Tab-separated segments (milliseconds, like Whisper's tsv) and the full JSON Transcript."""

from __future__ import annotations

from transcriber_cli.transcript import Transcript


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def write_tsv(transcript: Transcript) -> str:
    with_speaker = bool(transcript.speakers)
    rows = ["start\tend\tspeaker\ttext" if with_speaker else "start\tend\ttext"]
    for seg in transcript.segments:
        cells = [str(round(seg.start * 1000)), str(round(seg.end * 1000))]
        if with_speaker:
            cells.append(seg.speaker or "")
        cells.append(_clean(seg.text))
        rows.append("\t".join(cells))
    return "\n".join(rows) + "\n"


def write_json(transcript: Transcript) -> str:
    return transcript.model_dump_json(indent=2) + "\n"
