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
    whatever the distance; past ``high`` groups merging goes on, and it stops at ``low``.

    A distance matrix with each row's nearest partner kept up to date: a merge recomputes one
    row and the rows that pointed at the pair, so 24 h in one-minute spans (thousands of
    speakers) links in seconds, not hours."""
    n = len(speakers)
    if n == 0:
        return []
    dim = max(s.centroid.size for s in speakers)
    sums = np.zeros((n, dim))  # speech-weighted sums of unit centroids
    known = np.zeros(n, dtype=bool)
    for i, s in enumerate(speakers):
        norm = float(np.linalg.norm(s.centroid))
        if s.centroid.size == dim and norm > 0 and np.isfinite(norm):
            sums[i] = s.centroid / norm * max(s.seconds, 1e-3)
            known[i] = True
    span = np.array([s.span for s in speakers])
    apart = span[:, None] == span[None, :]  # groups that share a span (never joined)
    alive = np.ones(n, dtype=bool)
    dist = _distances(sums, known, np.arange(n))  # n² of them
    dist[apart] = np.inf
    best = dist.argmin(1)  # each row's nearest partner
    target_high = num if num else high
    target_low = max(num if num else low, 1)
    groups = n
    owner = np.arange(n)  # the row each speaker's group lives in
    while groups > target_low:
        near = dist[np.arange(n), best]
        near[~alive] = np.inf
        a = int(near.argmin())
        d, b = float(near[a]), int(best[a])
        if not np.isfinite(d):  # every pair left shares a span: nothing more can be joined
            break
        if d >= threshold and groups <= target_high:
            break
        # b joins a: a's sum, spans and distances become the pair's; b's row goes.
        sums[a] += sums[b]
        known[a] = known[a] or known[b]
        apart[a] |= apart[b]
        apart[:, a] = apart[a]
        alive[b] = False
        owner[owner == b] = a
        groups -= 1
        row = _distances(sums, known, np.array([a]))[0]
        row[apart[a] | ~alive] = np.inf
        dist[a], dist[:, a] = row, row
        dist[b], dist[:, b] = np.inf, np.inf
        stale = alive & ((best == a) | (best == b))
        stale[a] = True
        for r in np.flatnonzero(stale):
            best[r] = int(dist[r].argmin())
        closer = alive & (dist[:, a] < dist[np.arange(n), best])
        best[closer] = a
    # Global numbers in the order the groups' first members come (the span order).
    numbers: dict[int, int] = {}
    return [numbers.setdefault(int(g), len(numbers)) for g in owner]


def _distances(sums: np.ndarray, known: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Euclidean distances (float32) between the unit directions of ``sums[rows]`` and every
    row; a group without a centroid is ``_UNKNOWN`` from all (joined only when a count forces
    it). Computed in place: for every row at once this is the n² matrix, and one is enough."""
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    unit = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0).astype(np.float32)
    dist = unit[rows] @ unit.T  # cosines, turned into distances in place
    dist *= -2.0
    dist += 2.0
    np.clip(dist, 0.0, 4.0, out=dist)
    np.sqrt(dist, out=dist)
    dist[~known[rows]] = _UNKNOWN
    dist[:, ~known] = _UNKNOWN
    return dist
