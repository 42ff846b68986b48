"""The frame bookkeeping of pyannote's speaker diarization, without pyannote.audio.

Importing ``pyannote.audio`` pulls in lightning, torch._dynamo and torchmetrics: 7-9 s on
our GPU machines before diarization can start. The networks are ported elsewhere; this
module is what surrounds them: sliding the segmentation model over a waveform, powerset to
multi-label conversion, thresholding multi-label scores, overlap-add aggregation of the
windows, speaker counting, and the discrete diarization rebuilt from cluster assignments.

Ported from pyannote.audio 4.0.7 (MIT licence, (c) 2020- CNRS, 2025- pyannoteAI) with the
same operations in the same order, so results are bitwise equal
(tests/diarize/test_native_frames.py compares them):
- ``core/inference.py``: ``Inference.slide`` and ``infer`` as ``SpeakerDiarization``
  configures them (``skip_aggregation=True``), ``Inference.aggregate``, ``Inference.trim``;
- ``utils/powerset.py``: ``Powerset.build_mapping`` and ``to_multilabel`` (hard);
- ``utils/signal.py``: ``binarize`` as the pipeline calls it (``initial_state=False``);
- ``core/model.py``: ``Model.receptive_field``;
- ``pipelines/speaker_diarization.py``: ``SpeakerDiarization.reconstruct``;
- ``pipelines/utils/diarization.py``: ``SpeakerDiarizationMixin.speaker_count`` and
  ``to_diarization``.
Branches the diarization pipeline never reaches (multi-task models, chunk-level outputs,
aggregation inside ``slide``) are left out. Only torch, numpy, einops and pyannote.core
(which does not import pyannote.audio) are used.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from pyannote.core import SlidingWindow, SlidingWindowFeature


class ReceptiveField(Protocol):
    """What ``receptive_field`` needs of a segmentation model (pyannote's PyanNet has it)."""

    def receptive_field_size(self, num_frames: int) -> int: ...

    def receptive_field_center(self, frame: int) -> int: ...


def receptive_field(model: ReceptiveField, sample_rate: int) -> SlidingWindow:
    """The model's output frames, in seconds: ``Model.receptive_field``."""
    size = model.receptive_field_size(num_frames=1)
    step = model.receptive_field_size(num_frames=2) - size
    start = model.receptive_field_center(frame=0) - (size - 1) / 2
    return SlidingWindow(
        start=start / sample_rate, duration=size / sample_rate, step=step / sample_rate
    )


def powerset_mapping(num_classes: int, max_set_size: int) -> torch.Tensor:
    """(num_powerset_classes, num_classes): row i is 1 for the speakers of powerset class i,
    the classes ordered by size, then lexicographically (``Powerset.build_mapping``)."""
    sets = [
        current_set
        for set_size in range(max_set_size + 1)
        for current_set in combinations(range(num_classes), set_size)
    ]
    mapping = torch.zeros(len(sets), num_classes)
    for k, current_set in enumerate(sets):
        mapping[k, current_set] = 1
    return mapping


def slide(
    model: Callable[[torch.Tensor], torch.Tensor],
    waveform: torch.Tensor,
    *,
    sample_rate: int,
    duration: float,
    step: float,
    batch_size: int,
    powerset: tuple[int, int] | None,
    hook: Callable[..., Any] | None = None,
) -> SlidingWindowFeature:
    """Apply ``model`` to ``duration``-second windows of ``waveform`` every ``step`` seconds.

    ``waveform`` is (channel, sample); ``model`` takes a (batch, channel, sample) batch and
    returns (batch, frame, class) scores (moving the batch to its device is its business).
    ``powerset`` is (num_classes, max_set_size) for a powerset model, whose scores become
    0/1 speakers (the one-hot argmax class, mapped to its speakers); None keeps the scores
    (a multi-label model; ``binarize`` thresholds them). What ``Inference.slide`` returns
    with ``skip_aggregation=True``, as ``SpeakerDiarization`` builds its ``_segmentation``
    (``step`` = ``segmentation_step`` x ``duration``): (chunk, frame, class) float32 scores,
    chunk ``i`` starting at ``i * step`` seconds; the audio past the last whole window goes
    in one more, zero-padded window. ``hook``, when given, is called as
    ``hook(completed=..., total=...)`` in chunks (``completed`` may overshoot ``total`` on
    the last batch, as pyannote's does); the pipeline passes
    ``functools.partial(hook, "segmentation", None)``.
    """
    window_size = round(duration * sample_rate)
    step_size = round(step * sample_rate)
    _, num_samples = waveform.shape

    # every whole window, as views of the waveform
    if num_samples >= window_size:
        chunks = rearrange(
            waveform.unfold(1, window_size, step_size),
            "channel chunk frame -> chunk channel frame",
        )
        num_chunks = chunks.shape[0]
    else:
        num_chunks = 0

    has_last_chunk = (num_samples < window_size) or (num_samples - window_size) % step_size > 0
    if has_last_chunk:
        last_chunk = waveform[:, num_chunks * step_size :]
        last_chunk = F.pad(last_chunk, (0, window_size - last_chunk.shape[1]))

    mapping = None if powerset is None else powerset_mapping(*powerset)

    def infer(batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            scores = model(batch)
            if mapping is not None:
                one_hot = F.one_hot(torch.argmax(scores, dim=-1), mapping.shape[0]).float()
                scores = torch.matmul(one_hot, mapping.to(scores.device))
        return scores.cpu().numpy()

    total = num_chunks + has_last_chunk
    outputs: list[np.ndarray] = []
    if hook is not None:
        hook(completed=0, total=total)
    for c in range(0, num_chunks, batch_size):
        outputs.append(infer(chunks[c : c + batch_size]))
        if hook is not None:
            hook(completed=c + batch_size, total=total)
    if has_last_chunk:
        outputs.append(infer(last_chunk[None]))
        if hook is not None:
            hook(completed=total, total=total)

    return SlidingWindowFeature(
        np.vstack(outputs), SlidingWindow(start=0.0, duration=duration, step=step)
    )


def binarize(scores: SlidingWindowFeature, onset: float) -> SlidingWindowFeature:
    """0/1 (chunk, frame, class) float64 speakers of multi-label ``scores``: pyannote's
    ``binarize(scores, onset=onset, initial_state=False)``, as ``SpeakerDiarization.apply``
    calls it. A frame above ``onset`` is on, below it off, at it (or NaN, taken as 0) as the
    frame before; a track starts off. pyannote finds each frame's last decided frame with
    a Python loop over every frame; a running maximum of indices gives the same states."""
    num_chunks, num_frames, num_classes = scores.data.shape
    data = np.nan_to_num(rearrange(scores.data, "c f k -> (c k) f"))
    on = data > onset
    decided = (data < onset) | on
    # index of the last decided frame up to each frame, -1 before the first
    last = np.maximum.accumulate(np.where(decided, np.arange(num_frames), -1), axis=1)
    binarized = np.take_along_axis(on, np.maximum(last, 0), axis=1) & (last >= 0)
    return SlidingWindowFeature(
        1.0 * rearrange(binarized, "(c k) f -> c f k", c=num_chunks, k=num_classes),
        scores.sliding_window,
    )


def aggregate(
    scores: SlidingWindowFeature,
    frames: SlidingWindow,
    warm_up: tuple[float, float] = (0.0, 0.0),
    epsilon: float = 1e-12,
    hamming: bool = False,
    missing: float = np.nan,
    skip_average: bool = False,
) -> SlidingWindowFeature:
    """Overlap-add (chunk, frame, class) ``scores`` into (frame, class) float32 scores on
    ``frames``' grid, from the first chunk's start (``Inference.aggregate``): each frame the
    (``hamming``-weighted) mean of the chunks covering it, or their sum with
    ``skip_average``; ``warm_up`` seconds at each chunk's ends weigh ``epsilon``; NaN scores
    count for nothing, and a frame with none but NaN is ``missing``. Unlike pyannote's, it
    leaves the NaN in ``scores``."""
    num_chunks, num_frames_per_chunk, num_classes = scores.data.shape

    chunks = scores.sliding_window
    frames = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)

    hamming_window = (
        np.hamming(num_frames_per_chunk).reshape(-1, 1)
        if hamming
        else np.ones((num_frames_per_chunk, 1))
    )

    # frames in the warm-up at either end of a chunk (barely) contribute
    warm_up_window = np.ones((num_frames_per_chunk, 1))
    warm_up_left = round(warm_up[0] / chunks.duration * num_frames_per_chunk)
    warm_up_window[:warm_up_left] = epsilon
    warm_up_right = round(warm_up[1] / chunks.duration * num_frames_per_chunk)
    warm_up_window[num_frames_per_chunk - warm_up_right :] = epsilon

    num_frames = (
        frames.closest_frame(
            chunks.start + chunks.duration + (num_chunks - 1) * chunks.step + 0.5 * frames.duration
        )
        + 1
    )
    aggregated_output = np.zeros((num_frames, num_classes), dtype=np.float32)
    overlapping_chunk_count = np.zeros((num_frames, num_classes), dtype=np.float32)
    # 1 where at least one non-NaN score fell
    aggregated_mask = np.zeros((num_frames, num_classes), dtype=np.float32)

    for chunk, score in scores:
        # the same dtypes as pyannote's (an int mask, float64 windows) for the same sums
        mask = 1 - np.isnan(score)
        score = np.nan_to_num(score, nan=0.0)
        start_frame = frames.closest_frame(chunk.start + 0.5 * frames.duration)
        end_frame = start_frame + num_frames_per_chunk
        aggregated_output[start_frame:end_frame] += score * mask * hamming_window * warm_up_window
        overlapping_chunk_count[start_frame:end_frame] += mask * hamming_window * warm_up_window
        aggregated_mask[start_frame:end_frame] = np.maximum(
            aggregated_mask[start_frame:end_frame], mask
        )

    if skip_average:
        average = aggregated_output
    else:
        average = aggregated_output / np.maximum(overlapping_chunk_count, epsilon)
    average[aggregated_mask == 0.0] = missing
    return SlidingWindowFeature(average, frames)


def _trim(scores: SlidingWindowFeature, warm_up: tuple[float, float]) -> SlidingWindowFeature:
    """Drop ``warm_up`` (shares of a chunk) at each chunk's ends (``Inference.trim``)."""
    _, num_frames, _ = scores.data.shape
    chunks = scores.sliding_window
    num_frames_left = round(num_frames * warm_up[0])
    num_frames_right = round(num_frames * warm_up[1])
    return SlidingWindowFeature(
        scores.data[:, num_frames_left : num_frames - num_frames_right],
        SlidingWindow(
            start=chunks.start + warm_up[0] * chunks.duration,
            step=chunks.step,
            duration=(1 - warm_up[0] - warm_up[1]) * chunks.duration,
        ),
    )


def speaker_count(
    binarized_segmentations: SlidingWindowFeature,
    frames: SlidingWindow,
    warm_up: tuple[float, float] = (0.0, 0.0),
) -> SlidingWindowFeature:
    """(frame, 1) uint8 number of speakers talking in each of ``frames`` (the model's
    ``receptive_field``): the chunks' 0/1 speakers summed per frame, averaged over the
    overlapping chunks and rounded (``SpeakerDiarizationMixin.speaker_count``, which the
    pipeline calls with ``warm_up=(0.0, 0.0)``; ``warm_up`` are shares of a chunk)."""
    trimmed = _trim(binarized_segmentations, warm_up)
    count = aggregate(
        SlidingWindowFeature(np.sum(trimmed.data, axis=-1, keepdims=True), trimmed.sliding_window),
        frames,
        hamming=False,
        missing=0.0,
        skip_average=False,
    )
    count.data = np.rint(count.data).astype(np.uint8)
    return count


def reconstruct(
    segmentations: SlidingWindowFeature,
    hard_clusters: np.ndarray,
    count: SlidingWindowFeature,
) -> SlidingWindowFeature:
    """(frame, cluster) 0/1 diarization from the (chunk, frame, local speaker)
    ``segmentations``, the (chunk, local speaker) ``hard_clusters`` (-2: an inactive local
    speaker, dropped) and the capped (frame, 1) ``count`` (``SpeakerDiarization.reconstruct``):
    each chunk's cluster takes the max of its local speakers, the rest is NaN."""
    num_chunks, num_frames, _ = segmentations.data.shape
    num_clusters = np.max(hard_clusters) + 1
    clustered_segmentations = np.nan * np.zeros((num_chunks, num_frames, num_clusters))
    for c, (cluster, (_, segmentation)) in enumerate(zip(hard_clusters, segmentations)):
        for k in np.unique(cluster):
            if k == -2:
                continue
            clustered_segmentations[c, :, k] = np.max(segmentation[:, cluster == k], axis=1)
    return to_diarization(
        SlidingWindowFeature(clustered_segmentations, segmentations.sliding_window), count
    )


def to_diarization(
    segmentations: SlidingWindowFeature, count: SlidingWindowFeature
) -> SlidingWindowFeature:
    """(frame, speaker) 0/1 diarization: in each frame, the ``count`` speakers with the most
    summed activation over the chunks (``SpeakerDiarizationMixin.to_diarization``), speakers
    added as zero columns when ``count`` exceeds them. pyannote sets each frame's speakers in
    a Python loop over frames; one ``put_along_axis`` on the same ``argsort`` (same ties)
    writes the same 0/1 frames."""
    activations = aggregate(
        segmentations, count.sliding_window, hamming=False, missing=0.0, skip_average=True
    )
    _, num_speakers = activations.data.shape
    max_speakers_per_frame = np.max(count.data)
    if num_speakers < max_speakers_per_frame:
        activations.data = np.pad(
            activations.data, ((0, 0), (0, max_speakers_per_frame - num_speakers))
        )

    extent = activations.extent & count.extent
    activations = activations.crop(extent, return_data=False)
    count = count.crop(extent, return_data=False)

    # speakers by decreasing activation, ties in argsort's (default, unstable) order
    sorted_speakers = np.argsort(-activations.data, axis=-1)
    # the speaker of rank i in frame t is on when i < count[t]
    ranks = np.arange(sorted_speakers.shape[1])
    binary = np.zeros_like(activations.data)
    np.put_along_axis(binary, sorted_speakers, (ranks < count.data).astype(binary.dtype), axis=-1)
    return SlidingWindowFeature(binary, activations.sliding_window)
