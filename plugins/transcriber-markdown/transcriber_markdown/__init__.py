"""Markdown transcripts: one paragraph per speaker turn, each with its start time."""

from __future__ import annotations

from transcriber_cli import hookimpl
from transcriber_cli.formats import OutputFormat
from transcriber_cli.transcript import Transcript


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def write_markdown(transcript: Transcript) -> str:
    title = transcript.source or "Transcript"
    out = [
        f"# {title}",
        "",
        f"*Language: {transcript.language or 'unknown'}, duration: {_clock(transcript.duration)}*",
        "",
    ]
    turns: list[tuple[str | None, float, list[str]]] = []
    for seg in transcript.segments:
        if turns and turns[-1][0] == seg.speaker:
            turns[-1][2].append(seg.text.strip())
        else:
            turns.append((seg.speaker, seg.start, [seg.text.strip()]))
    for speaker, start, texts in turns:
        who = f"**{speaker}** " if speaker else ""
        out += [f"{who}[{_clock(start)}] {' '.join(t for t in texts if t)}", ""]
    return "\n".join(out)


@hookimpl
def register_formats(register) -> None:
    # default=False: "-f all" keeps the built-in set; ask for it with "-f md" or "-f all,md".
    register(OutputFormat("md", "md", write_markdown, default=False))
