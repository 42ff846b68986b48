"""Long recordings diarized span by span, their speakers linked by voice (issue 15).

A pyannote pipeline keeps its per-window scores and embeddings for the whole recording (about
140 MB per audio hour, docs/benchmarks.md), so the speaker step's memory grew with the file.
A recording longer than the span is cut into equal spans, each diarized alone; each span's
speakers come with a centroid (pyannote's ``speaker_embeddings``) and their seconds of speech.
Speakers of different spans are then joined as pyannote's own clustering joins clusters:
centroid linkage, Euclidean distance between unit vectors, merged below a threshold. Two
speakers of one span are never joined (the span's clustering already told them apart), and a
given speaker count is met by merging the nearest pairs.

Pure numpy: the pipeline call is the caller's (``pyannote_pipeline.PyannoteDiarizer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Distance between two speakers' unit centroids that can never be joined by the threshold:
# a speaker without a centroid (pyannote pads with zeros) is joined only when a count forces it.
_UNKNOWN = 2.0


@dataclass(frozen=True)
class LocalSpeaker:
    """One speaker of one span, as that span's diarization found it."""

    span: int
    label: str
    centroid: np.ndarray  # the span's speaker embedding (any scale; zeros when unknown)
    seconds: float  # speech of this speaker in the span: the weight of its centroid


def cut(
    seconds: float, span: float, audio: np.ndarray | None = None, rate: int = 16000
) -> list[tuple[float, float]]:
    """Spans of about ``span`` seconds over ``seconds`` (one span when ``span`` is 0 or the
    recording is at most 1 % longer). With ``audio``, each cut moves to the quietest half second
    within a tenth of a span (at most 30 s) of the equal cut: a cut inside a word leaves a
    short piece of a voice at a span's edge, which that span's speakers may not explain."""
    # Up to 1 % over one span stays whole: a 60:01 recording is not worth two 30-minute spans.
    n = max(1, math.ceil(seconds / span - 0.01)) if span > 0 else 1
    edges = np.linspace(0.0, seconds, n + 1)
    if audio is not None and n > 1:
        reach = min(span / 10, 30.0)
        edges[1:-1] = [_quietest(audio, rate, t - reach, t + reach) for t in edges[1:-1]]
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def _quietest(audio: np.ndarray, rate: int, start: float, end: float) -> float:
    """The centre of the quietest half second between ``start`` and ``end`` (energy in
    0.1 s frames, summed over five)."""
    hop = rate // 10
    first = max(int(start * rate), 0)
    piece = np.asarray(audio[first : max(int(end * rate), first)], dtype=np.float64)
    frames = len(piece) // hop
    if frames < 5:
        return (start + end) / 2
    energy = (piece[: frames * hop].reshape(frames, hop) ** 2).sum(1)
    smooth = np.convolve(energy, np.ones(5), mode="valid")  # frame i .. i + 4
    best = int(np.argmin(smooth))
    return (first + (best + 2.5) * hop) / rate


def link(
    speakers: list[LocalSpeaker],
    *,
    threshold: float,
    num: int | None = None,
    low: int = 1,
    high: float = math.inf,
) -> list[int]:
    """The global speaker of each local speaker (0, 1, ... in the order of ``speakers``).

    Agglomerative, centroid linkage: the closest pair of groups that share no span is merged
    while its distance is below ``threshold``; with ``num`` until there are ``num`` groups,
    whatever the distance; past ``high`` groups merging goes on, and it stops at ``low``."""
    if not speakers:
        return []
    units = []
    for s in speakers:
        norm = float(np.linalg.norm(s.centroid))
        units.append(s.centroid / norm if norm > 0 and np.isfinite(norm) else None)
    # A group: member indices, the spans it covers, its speech-weighted sum of unit centroids.
    members: list[list[int]] = [[i] for i in range(len(speakers))]
    spans: list[set[int]] = [{s.span} for s in speakers]
    sums: list[np.ndarray | None] = [
        None if u is None else u * max(s.seconds, 1e-3) for u, s in zip(units, speakers)
    ]
    target_high = num if num else high
    target_low = num if num else low
    while len(members) > max(target_low, 1):
        best: tuple[float, int, int] | None = None
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                if spans[a] & spans[b]:
                    continue
                d = _distance(sums[a], sums[b])
                if best is None or d < best[0]:
                    best = (d, a, b)
        if best is None:  # every pair shares a span: nothing more can be joined
            break
        d, a, b = best
        if d >= threshold and len(members) <= target_high:
            break
        members[a] += members.pop(b)
        spans[a] |= spans.pop(b)
        sb = sums.pop(b)
        sa = sums[a]
        sums[a] = sa + sb if sa is not None and sb is not None else (sa if sb is None else sb)
    # Global numbers in the order the groups' first members come (the span order).
    order = sorted(range(len(members)), key=lambda g: min(members[g]))
    result = [0] * len(speakers)
    for number, g in enumerate(order):
        for i in members[g]:
            result[i] = number
    return result


def _distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return _UNKNOWN
    return float(np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b)))
