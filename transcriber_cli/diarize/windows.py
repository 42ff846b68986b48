"""Speaker identity from short uniform windows of speech (issue 16).

pyannote/segmentation v2 often gives two voices to one local speaker of a 5 s chunk, so an
embedding per (chunk, local speaker) can be a mix of two people (bench/diarization.md). Here
the segmentation only says where speech is and how many talk at once; identity comes from
d-vectors of short windows laid evenly over the speech, clustered, and each frame takes the
``count`` speakers whose centroids its covering windows resemble most.

Pure numpy: the frames are the segmentation's aggregated frames (``count``'s sliding window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Chosen on the dev sets only (bench/diarization.md, 2026-12-03; windows of 1-2 s, hops of
# 0.5-0.75 s, pruning 0.1-0.3): 1.5 s every 0.75 s keeps 11 of 12 real-voice dev counts right
# over the widest pruning range (0.15-0.25), at half the embedding time of 2 s windows; 0.25
# is the best of that range on both dev sets.
WINDOW = 1.5  # seconds a window spans (the encoder was trained on 1.6 s utterances)
HOP = 0.75  # seconds between window starts
PRUNING = 0.25  # spectral clustering's share of neighbours kept, for window embeddings
MIN_SPEECH = 0.4  # seconds of speech a window needs (the encoder's MIN_FRAMES)
TAPER = True  # frames weigh the windows around them by a Hamming window (see frame_scores)


@dataclass(frozen=True)
class Windows:
    starts: np.ndarray  # (windows,) seconds
    first: np.ndarray  # (windows,) index of each window's first frame
    masks: np.ndarray  # (windows, frames per window) bool: the frames embedded


def frame_centres(start: float, duration: float, step: float, n: int) -> np.ndarray:
    return start + duration / 2 + step * np.arange(n)


def speech_windows(
    count: np.ndarray,
    centres: np.ndarray,
    total: float,
    window: float = WINDOW,
    hop: float = HOP,
    min_speech: float = MIN_SPEECH,
    exclude_overlap: bool = False,
) -> Windows:
    """Windows of ``window`` s every ``hop`` s over ``total`` s (the last one ending at the
    end) that hold at least ``min_speech`` s of speech (``count`` > 0 per frame, frames
    centred at ``centres``). With ``exclude_overlap``, frames where two or more talk are
    left out of a window's mask when enough single-speaker speech remains."""
    step = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
    per = max(1, round(window / step))
    starts = np.arange(0.0, max(total - window, 0.0) + 1e-9, hop)
    if starts[-1] + window < total:
        starts = np.append(starts, total - window)
    first = np.ceil((starts - centres[0]) / step - 1e-9).astype(int).clip(0)
    index = first[:, None] + np.arange(per)[None]
    inside = index < len(count)
    counts = np.where(inside, count[index.clip(max=len(count) - 1)], 0)
    masks = counts > 0
    if exclude_overlap:
        single = counts == 1
        enough = single.sum(1) * step >= min_speech
        masks[enough] = single[enough]
    keep = masks.sum(1) * step >= min_speech
    return Windows(starts[keep], first[keep], masks[keep])


def frame_scores(
    windows: Windows, similarity: np.ndarray, frames: int, taper: bool = TAPER
) -> np.ndarray:
    """(frames, speakers): each frame's mean similarity to each speaker over the windows that
    cover it, with ``taper`` weighted by a Hamming window (a frame near a window's edge owes
    it little: at a change of speaker, the window centred on the frame decides); frames no
    window covers copy the nearest covered frame."""
    per = windows.masks.shape[1]
    weight = np.hamming(per) if taper else np.ones(per)
    sums = np.zeros((frames, similarity.shape[1]))
    hits = np.zeros(frames)
    # One frame offset at a time: temporaries of (windows, speakers), not of every
    # (window, frame) pair (24 h with 10 speakers: 2.1 GB that way).
    for j in range(per):
        index = windows.first + j
        inside = index < frames
        np.add.at(sums, index[inside], similarity[inside] * weight[j])
        np.add.at(hits, index[inside], weight[j])
    covered = np.flatnonzero(hits)
    if len(covered) == 0:
        return sums
    scores = sums / np.where(hits > 0, hits, 1.0)[:, None]
    return scores[_nearest(covered, frames)]


def _nearest(covered: np.ndarray, frames: int) -> np.ndarray:
    """Index of the nearest covered frame for every frame, in O(frames log covered)."""
    t = np.arange(frames)
    right = np.searchsorted(covered, t).clip(max=len(covered) - 1)
    left = (right - 1).clip(0)
    closer_left = np.abs(t - covered[left]) <= np.abs(covered[right] - t)
    return np.where(closer_left, covered[left], covered[right])


def label_frames(scores: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(frames, speakers) 0/1: in each frame the ``count`` best-scoring speakers."""
    frames, speakers = scores.shape
    order = np.argsort(-scores, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(speakers)[None].repeat(frames, 0), axis=1)
    return (rank < np.minimum(count, speakers)[:, None]).astype(np.float32)
