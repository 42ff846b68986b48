"""Speaker embeddings with one network pass per window instead of one per local speaker.

pyannote 4's ``SpeakerDiarization.get_embeddings`` runs the embedding model once for every
(window, local speaker) pair: community-1's three local speakers put each 10 s window through
the ResNet three times, with only the final weighted statistics pooling differing between
them. Models that expose ``forward_frames`` / ``forward_embedding`` (WeSpeaker ResNet34, the
community-1 embedding) let the frames be computed once per window and pooled per speaker.
The masks, and so the embeddings, are pyannote's own (tests/diarize/test_chunk_embeddings.py
compares the two); the speaker step does a third of the network work. pyannote's embedding
cache for hyper-parameter training (``self.training``) is not kept: inference only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def share_window_frames(pipeline: Any, *, half: Callable[[], bool]) -> bool:
    """Give ``pipeline`` the one-pass ``get_embeddings`` when its embedding model can split
    frames from pooling; False (pyannote's own method stays) otherwise. ``half()`` says, per
    call, whether to run the network under float16 autocast on CUDA."""
    from pyannote.audio.models.embedding.wespeaker import BaseWeSpeakerResNet

    embedding = getattr(pipeline, "_embedding", None)
    model = getattr(embedding, "model_", None)
    # By class, not by method names: a custom model's forward_frames may mean anything, and
    # a filterbank-only WeSpeaker's forward returns features, not embeddings.
    if not isinstance(model, BaseWeSpeakerResNet) or model.fbank_only:
        return False
    pipeline.get_embeddings = functools.partial(_get_embeddings, pipeline, half)
    return True


def pooling_masks(data: np.ndarray, exclude_overlap: bool, min_num_frames: int) -> np.ndarray:
    """(chunks, speakers, frames) pooling weights of ``data`` (chunks, frames, speakers; NaN
    where stitching left gaps), chosen as pyannote chooses them: without the frames where
    several speakers overlap, unless too little clean speech is left. Per batch of chunks,
    so memory follows the batch, not the recording."""
    masks = np.nan_to_num(data, nan=0.0).astype(np.float32)
    if exclude_overlap:
        clean = np.nan_to_num(data * (np.sum(data, axis=2, keepdims=True) < 2), nan=0.0)
        clean = clean.astype(np.float32)
        enough = clean.sum(axis=1, keepdims=True) > min_num_frames  # (chunks, 1, speakers)
        masks = np.where(enough, clean, masks)
    return np.ascontiguousarray(masks.transpose(0, 2, 1))


def _get_embeddings(
    pipeline: Any,
    half: Callable[[], bool],
    file: Any,
    binary_segmentations: Any,
    exclude_overlap: bool = False,
    hook: Callable[..., Any] | None = None,
) -> np.ndarray:
    embedding = pipeline._embedding

    def windows() -> Iterator[Any]:
        for chunk, _ in binary_segmentations:
            waveform, _ = pipeline._audio.crop(file, chunk, mode="pad")
            yield waveform

    return embed_windows(
        embedding.model_, windows(), binary_segmentations, device=embedding.device,
        batch_size=pipeline.embedding_batch_size, sample_rate=embedding.sample_rate,
        min_num_samples=embedding.min_num_samples if exclude_overlap else None,
        half=embedding.device.type == "cuda" and half(), dimension=embedding.dimension,
        hook=hook,
    )  # fmt: skip


def embed_windows(
    model: Any,
    windows: Iterator[Any],
    binary_segmentations: Any,
    *,
    device: Any,
    batch_size: int,
    sample_rate: int,
    min_num_samples: int | None,
    half: bool,
    dimension: int,
    hook: Callable[..., Any] | None = None,
) -> np.ndarray:
    """(chunks, local speakers, dimension) embeddings of each chunk's waveform (``windows``,
    in chunk order): ``model.forward_frames`` once per window, ``forward_embedding`` pooled
    per local speaker with pyannote's masks. ``min_num_samples``: overlapped frames are left
    out of the masks (pyannote's ``exclude_overlap``) unless fewer clean samples than that
    remain; None keeps them. ``half``: under float16 autocast (CUDA)."""
    import torch

    window = binary_segmentations.sliding_window
    num_chunks, num_frames, speakers = binary_segmentations.data.shape
    exclude_overlap = min_num_samples is not None
    min_num_frames = -1
    if min_num_samples is not None:  # pyannote's bound: fewer samples make the model fail
        min_num_frames = math.ceil(num_frames * min_num_samples / (window.duration * sample_rate))
    # The batch counts windows, as pyannote's counts pairs: the same network memory per batch.
    size = max(1, int(batch_size))
    total = math.ceil(num_chunks / size)
    if hook is not None:
        hook("embeddings", None, total=total, completed=0)
    out: list[np.ndarray] = []
    for i, start in enumerate(range(0, num_chunks, size), 1):
        stop = min(start + size, num_chunks)
        batch = torch.vstack([next(windows)[None] for _ in range(start, stop)]).to(device)
        data = binary_segmentations.data[start:stop]
        weights = torch.from_numpy(pooling_masks(data, exclude_overlap, min_num_frames))
        weights = weights.to(device)
        # Pooling warnings (a window without speech) reach pyannote_pipeline's router: the
        # process-wide filters of catch_warnings are not safe with several diarizers at once.
        with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=half):
            frames = model.forward_frames(batch)
            pooled = [model.forward_embedding(frames, weights=weights[:, s]).float()
                      for s in range(speakers)]  # fmt: skip
        chunk = torch.stack(pooled, dim=1).cpu().numpy()  # (windows, speakers, dimension)
        out.append(chunk)
        if hook is not None:
            hook("embeddings", chunk, total=total, completed=i)
    if not out:
        return np.zeros((0, speakers, dimension), dtype=np.float32)
    return np.concatenate(out)
