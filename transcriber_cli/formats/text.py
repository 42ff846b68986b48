"""Plain text: one line per segment, or one ``[SPEAKER] ...`` paragraph per speaker turn."""

from __future__ import annotations

from transcriber_cli.transcript import Transcript


def speaker_paragraphs(transcript: Transcript) -> list[tuple[str | None, str]]:
    """Consecutive words of one speaker joined into a turn (segment text when no words)."""
    turns: list[tuple[str | None, list[str]]] = []
    for seg in transcript.segments:
        pieces = [(w.speaker, w.text) for w in seg.words] or [(seg.speaker, " " + seg.text)]
        for speaker, text in pieces:
            if turns and turns[-1][0] == speaker:
                turns[-1][1].append(text)
            else:
                turns.append((speaker, [text]))
    # Words carry their own leading spaces; joining on "" keeps "$20,000" whole.
    paragraphs = [(speaker, " ".join("".join(parts).split())) for speaker, parts in turns]
    return [(speaker, text) for speaker, text in paragraphs if text]


def write_txt(transcript: Transcript) -> str:
    if transcript.speakers:
        lines = [f"[{spk or 'UNKNOWN'}] {text}" for spk, text in speaker_paragraphs(transcript)]
    else:
        lines = [s.text.strip() for s in transcript.segments if s.text.strip()]
    return "\n".join(lines) + ("\n" if lines else "")
