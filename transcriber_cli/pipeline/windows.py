"""Long recordings in windows: cut at silence, transcribed, checkpointed in order.

Windows are transcribed one after another, or a few at once on a GPU (``windows_per_device``;
batched decoding carries no text across a cut). After each window the segments so far are
handed to ``on_checkpoint`` (the local manifest, or the job document + S3 for a worker), in
order, so a stop, a crash or a Spot interruption costs at most the windows that were in
flight: the next run continues from the last cut.

Cuts are deterministic (each is found from the previous one), so a resumed run sees the same
windows, the same prompts and gives the same words as an uninterrupted one. A cut is the
quietest 100 ms inside the last stretch before the nominal boundary, so no word straddles it;
a word Whisper still places across the seam is kept once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from transcriber_cli.media import SAMPLE_RATE, Samples
from transcriber_cli.options import WhisperOptions
from transcriber_cli.transcript import Segment, SpeakerTurn, Word

FRAME = 0.1  # seconds: the resolution of a cut
SEARCH = 30.0  # seconds before the nominal boundary searched for the quietest frame
PROMPT_CHARS = 200  # of the previous window's text, as Whisper's prompt (it keeps ~224 tokens)


class WindowCheckpoint(BaseModel):
    """What finished windows leave behind: everything a later run needs to go on."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(default=0.0, ge=0)  # audio done: the last window's end
    windows: int = Field(default=0, ge=0)
    language: str | None = None
    language_probability: float | None = None
    segments: list[Segment] = Field(default_factory=list)
    turns: list[SpeakerTurn] | None = None  # set once diarization of the whole file finished
    # The windows' length: a resumed run keeps it, so it cuts the windows an uninterrupted
    # one would have, whatever the auto length where it resumes (engine/gpus.py).
    window_seconds: float | None = Field(default=None, gt=0)

    def prompt(self, user_prompt: str | None) -> str | None:
        """The user's prompt plus the end of what was said before the cut."""
        tail = " ".join(s.text for s in self.segments)[-PROMPT_CHARS:]
        tail = tail.split(" ", 1)[-1] if len(tail) == PROMPT_CHARS else tail  # whole words
        joined = " ".join(p for p in (user_prompt, tail) if p)
        return joined or None


# (checkpoint, audio seconds decoded for it): called after every window and after diarization.
OnCheckpoint = Callable[[WindowCheckpoint, float], None]


def next_cut(audio: Samples, start: float, window: float) -> float:
    """Where the window starting at ``start`` ends: the file's end when the rest fits in 1.25
    windows (no short tail window), else the quietest frame before ``start + window``."""
    duration = len(audio) / SAMPLE_RATE
    if duration - start <= window * 1.25:
        return duration
    nominal = start + window
    frame = int(FRAME * SAMPLE_RATE)
    lo = int(max(start + 1.0, nominal - min(SEARCH, window / 4)) * SAMPLE_RATE)
    count = (int(nominal * SAMPLE_RATE) - lo) // frame
    frames = audio[lo : lo + count * frame].reshape(count, frame).astype(np.float64)
    energy = np.sqrt((frames**2).mean(axis=1))
    quietest = int(np.argmin(energy))
    return round((lo + quietest * frame + frame // 2) / SAMPLE_RATE, 3)


def remaining_cuts(
    audio: Samples, state: WindowCheckpoint, window_seconds: float | None
) -> list[tuple[float, float]]:
    """The windows still to do after ``state`` (cuts are cheap: a scan of 100 ms energies);
    at least one for a file none was done of, even an empty one. Without ``window_seconds``
    the rest is one window."""
    duration = len(audio) / SAMPLE_RATE
    window = window_seconds or duration or 1.0
    cuts: list[tuple[float, float]] = []
    start = state.seconds
    while start < duration - 0.05 or (not cuts and not state.windows):
        end = next_cut(audio, start, window)
        cuts.append((start, end))
        if end >= duration:
            break
        start = end
    return cuts


def part(audio: Samples, bounds: tuple[float, float]) -> np.ndarray:
    """A window's samples (a view of an array; read from the file of a ``DecodedAudio``)."""
    start, end = bounds
    return audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


def _moved(word: Word, offset: float) -> Word:
    return word.model_copy(
        update={"start": round(word.start + offset, 3), "end": round(word.end + offset, 3)}
    )


def shift(segment: Segment, offset: float, after: float) -> Segment | None:
    """``segment`` moved from window time to file time, without the words that end before
    ``after`` (the end of the previous window's last segment); None when nothing is left."""
    if after <= offset:  # nothing before the seam can overlap: a plain move
        return segment.model_copy(
            update={
                "start": round(segment.start + offset, 3),
                "end": round(segment.end + offset, 3),
                "words": [_moved(w, offset) for w in segment.words],
            }
        )
    words = [
        Word(
            start=round(max(w.start + offset, after), 3),
            end=round(w.end + offset, 3),
            text=w.text,
            probability=w.probability,
        )
        for w in segment.words
        if w.end + offset > after + 0.01
    ]
    if segment.words and not words:
        return None
    start = max(segment.start + offset, after)
    if words and len(words) < len(segment.words):
        start = max(start, words[0].start)  # it now begins with its first kept word
    end = segment.end + offset
    if end <= start:
        return None
    text = "".join(w.text for w in words).strip() if len(words) < len(segment.words) else None
    return segment.model_copy(
        update={
            "start": round(start, 3),
            "end": round(end, 3),
            "words": words,
            "text": text if text is not None else segment.text,
        }
    )


def window_options(
    options: WhisperOptions, state: WindowCheckpoint, *, sequential: bool | None = None
) -> WhisperOptions:
    """Later windows keep the first window's language and, when decoding sequentially,
    take the text before the cut as context (the batched pipeline decodes every 30 s chunk
    on its own, so there is no context to carry). ``sequential``: whether the batch size that
    runs is 1 (an auto batch size can be)."""
    update: dict[str, object] = {}
    if options.language is None and state.language:
        update["language"] = state.language
    if sequential is None:
        sequential = options.batch_size == 1
    if state.segments and sequential:
        update["initial_prompt"] = state.prompt(options.initial_prompt)
    return options.model_copy(update=update) if update else options
