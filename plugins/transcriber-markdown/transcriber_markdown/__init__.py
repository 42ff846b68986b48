"""Markdown transcripts: one paragraph per speaker turn, each with its start time."""

from __future__ import annotations

from transcriber_cli import hookimpl
from transcriber_cli.formats import OutputFormat
from transcriber_cli.transcript import Transcript


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def speaker_turns(transcript: Transcript) -> list[tuple[str | None, float, str]]:
    """(speaker, start, text) for each run of consecutive words of one speaker: a Whisper
    segment can hold two speakers, so turns follow the words (a segment without word
    timings counts as one piece, with its own speaker)."""
    turns: list[tuple[str | None, float, list[str]]] = []
    for seg in transcript.segments:
        pieces = [(w.speaker, w.start, w.text) for w in seg.words] or [
            (seg.speaker, seg.start, " " + seg.text)
        ]
        for speaker, start, text in pieces:
            if turns and turns[-1][0] == speaker:
                turns[-1][2].append(text)
            else:
                turns.append((speaker, start, [text]))
    # Words carry their own leading spaces: joined on "", "$20,000" stays whole.
    joined = [(speaker, start, " ".join("".join(parts).split())) for speaker, start, parts in turns]
    return [turn for turn in joined if turn[2]]


def write_markdown(transcript: Transcript) -> str:
    title = transcript.source or "Transcript"
    out = [
        f"# {title}",
        "",
        f"*Language: {transcript.language or 'unknown'}, duration: {_clock(transcript.duration)}*",
        "",
    ]
    for speaker, start, text in speaker_turns(transcript):
        who = f"**{speaker}** " if speaker else ""
        out += [f"{who}[{_clock(start)}] {text}", ""]
    return "\n".join(out)


@hookimpl
def register_formats(register) -> None:
    # default=False: "-f all" keeps the built-in set; ask for it with "-f md" or "-f all,md".
    register(OutputFormat("md", "md", write_markdown, default=False))
