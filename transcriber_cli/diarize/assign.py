"""Assign diarization speakers to words and segments.

A word takes the speaker whose turn overlaps it most; a word in a gap between turns takes
the nearest turn. A segment takes the speaker holding most of its words' time. Speaker labels
are renamed in order of first appearance (``SPEAKER_00``, ...) or to ``speaker_names``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence

from transcriber_cli.transcript import Segment, SpeakerTurn, Transcript


class _TurnIndex:
    """Turns sorted by start, searchable by time window in O(log n + k)."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        self.longest = max((t.end - t.start for t in self.turns), default=0.0)
        # latest_end[k]: the turn ending last among turns[:k+1] (the nearest one before a gap
        # is not always the one that started last: a long turn can start earlier and end later).
        self.latest_end: list[SpeakerTurn] = []
        for turn in self.turns:
            best = self.latest_end[-1] if self.latest_end else turn
            self.latest_end.append(turn if turn.end > best.end else best)

    def window(self, start: float, end: float) -> Sequence[SpeakerTurn]:
        lo = bisect.bisect_left(self.starts, start - self.longest)
        hi = bisect.bisect_left(self.starts, end)
        return self.turns[lo:hi]

    def nearest(self, t: float) -> SpeakerTurn:
        """The turn closest to time ``t``; on equal distance the earlier one."""
        i = bisect.bisect_right(self.starts, t)
        near = []
        if i > 0:
            near.append(self.latest_end[i - 1])  # ends last among turns starting by t
        if i < len(self.turns):
            near.append(self.turns[i])  # starts first after t
        return min(near, key=lambda turn: max(turn.start - t, t - turn.end, 0.0))


def _speaker_for(start: float, end: float, index: _TurnIndex) -> str | None:
    if not index.turns:
        return None
    overlap: dict[str, float] = defaultdict(float)
    for turn in index.window(start, end):
        inter = min(end, turn.end) - max(start, turn.start)
        if inter > 0:
            overlap[turn.speaker] += inter
    if overlap:
        # max() keeps the first of equals: on a tie, the turn that started first wins.
        return max(overlap.items(), key=lambda kv: kv[1])[0]
    # In a gap (or a zero-length word): the nearest turn to the word's middle.
    return index.nearest((start + end) / 2).speaker


def _segment_speaker(segment: Segment, index: _TurnIndex) -> str | None:
    if not segment.words:
        return _speaker_for(segment.start, segment.end, index)
    share: dict[str, float] = defaultdict(float)
    for w in segment.words:
        if w.speaker:
            share[w.speaker] += max(w.end - w.start, 0.01)
    return max(share.items(), key=lambda kv: kv[1])[0] if share else None


def assign_speakers(
    transcript: Transcript,
    turns: Sequence[SpeakerTurn],
    speaker_names: Sequence[str] | None = None,
) -> Transcript:
    """Return a copy of ``transcript`` with speakers on words, segments and turns."""
    index = _TurnIndex(turns)
    ordered = index.turns
    result = transcript.model_copy(deep=True)
    for seg in result.segments:
        for w in seg.words:
            w.speaker = _speaker_for(w.start, w.end, index)
        seg.speaker = _segment_speaker(seg, index)

    # Rename in order of first appearance in the transcript, then in the raw turns.
    order: list[str] = []
    for seg in result.segments:
        for label in [w.speaker for w in seg.words] + [seg.speaker]:
            if label and label not in order:
                order.append(label)
    for t in ordered:
        if t.speaker not in order:
            order.append(t.speaker)
    names = list(speaker_names or [])
    mapping = {
        old: (names[i] if i < len(names) else f"SPEAKER_{i:02d}") for i, old in enumerate(order)
    }
    for seg in result.segments:
        seg.speaker = mapping.get(seg.speaker) if seg.speaker else None
        for w in seg.words:
            w.speaker = mapping.get(w.speaker) if w.speaker else None
    result.turns = [
        SpeakerTurn(start=t.start, end=t.end, speaker=mapping[t.speaker]) for t in ordered
    ]
    spoken = {w.speaker for w in result.words()} | {s.speaker for s in result.segments}
    result.speakers = [mapping[o] for o in order if mapping[o] in spoken]
    return result
