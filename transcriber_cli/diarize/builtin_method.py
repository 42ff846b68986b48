"""The built-in speaker pipeline's method, shared by both runtimes (``builtin.py`` without
pyannote.audio, ``builtin_pyannote.py`` on it): where its weights are, its tuned numbers, and
``WindowsMethod``, which turns the segmentation's speaker count into labelled speakers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transcriber_cli.diarize import windows
from transcriber_cli.diarize.native.pipeline import DiarizeOutput, set_num_speakers

NAME = "builtin"
WEIGHTS = Path(__file__).resolve().parent / "weights"
SEGMENTATION = WEIGHTS / "segmentation.pt"
DVECTOR = WEIGHTS / "dvector.pt"
# Chosen on the dev set (bench/diarization.md); pyannote's own defaults otherwise.
PARAMETERS = {
    "segmentation": {"threshold": 0.5, "min_duration_off": 0.0},
    "clustering": {},
}
SEGMENTATION_STEP = 0.1  # share of the 5 s window between two windows

Hook = Callable[..., Any]


@dataclass(frozen=True)
class SegmentationCheckpoint:
    """The shipped segmentation checkpoint, read once for both runtimes' PyanNet."""

    hyper_parameters: dict[str, Any]
    state_dict: dict[str, Any]
    # duration, warm_up, classes; the rest is the same for every such model: multi-label,
    # frame-wise, permutation-invariant (each runtime has its own Specifications class)
    specifications: dict[str, Any]


def read_segmentation(path: Path = SEGMENTATION) -> SegmentationCheckpoint:
    """Plain tensors and numbers (re-saved by bench/diarization/make_weights.py), so torch
    reads it weights-only: no pickled classes run."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    spec = ckpt["specifications"]
    return SegmentationCheckpoint(
        hyper_parameters=ckpt["hyper_parameters"],
        state_dict=ckpt["state_dict"],
        specifications={"duration": spec["duration"], "warm_up": tuple(spec["warm_up"]),
                        "classes": spec["classes"]},
    )  # fmt: skip


def cut(audio: Any, starts: np.ndarray, rate: int, size: int) -> Any:
    """(windows, size) samples of 1-d ``audio`` from each of ``starts`` (seconds, rounded to
    the nearest sample, ties to even), zeros past its end. One gather from a strided view of
    every window, where the audio lives (a GPU's copy): a slice, a pad and a copy per window
    were thousands of small launches an hour, each holding the GIL that transcription's
    threads need. Only windows running past the end (audio shorter than one) go one by one."""
    import torch

    offsets = np.round(starts * rate).astype(np.int64)
    n = audio.shape[0]
    whole = offsets <= n - size
    if whole.all():
        return audio.unfold(0, size, 1)[torch.from_numpy(offsets).to(audio.device)]
    chunks = torch.zeros(len(offsets), size, dtype=audio.dtype, device=audio.device)
    if whole.any():
        rows = torch.from_numpy(np.flatnonzero(whole)).to(audio.device)
        chunks[rows] = audio.unfold(0, size, 1)[torch.from_numpy(offsets[whole]).to(audio.device)]
    for row in np.flatnonzero(~whole):
        piece = audio[offsets[row] :]
        chunks[row, : piece.shape[0]] = piece
    return chunks


class WindowsMethod:
    """Speaker identity from uniform short windows of speech, and the output built from it.

    A pipeline using it has ``_embedding`` (a ``DVectorEmbedding``), ``clustering`` (with
    ``cluster``), ``segmentation.min_duration_off``, ``to_annotation`` and
    ``speech_count(file, hook)``, and gives ``waveform(file)``."""

    _embedding: Any
    clustering: Any
    segmentation: Any
    to_annotation: Callable[..., Any]

    window = windows.WINDOW
    hop = windows.HOP
    pruning = windows.PRUNING
    taper = windows.TAPER
    exclude_overlap = False  # overlap left out of window masks: no gain on dev
    keep_overlap = True  # two labels where the segmentation counts two (dev: 4-5 points)
    # Speakers of two spans of a long recording are one below this distance between their
    # unit centroids (spans.py). Dev set, 40-turn real-voice conversations cut into 2 and 3
    # spans: 0.4-0.9 gave the same labels (bench/diarization.md, "Long recordings in spans").
    link_threshold = 0.7
    embedding_batch_size: int

    def speech_count(self, file: Any, hook: Hook) -> Any:
        raise NotImplementedError

    def waveform(self, file: Any) -> tuple[Any, int]:
        raise NotImplementedError

    def diarize_windows(
        self,
        file: Any,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
        hook: Hook,
    ) -> DiarizeOutput:
        """The whole pipeline; ``hook`` already bound to ``file`` (pyannote's setup_hook)."""
        from pyannote.core import Annotation

        count = self.speech_count(file, hook)
        uri = file.get("uri")
        if np.nanmax(count.data, initial=0) == 0:
            empty = np.zeros((0, self._embedding.dimension))
            return DiarizeOutput(Annotation(uri=uri), Annotation(uri=uri), empty)
        found = self.window_embeddings(file, count, hook)
        hook("embeddings", found[1])  # each step's end, as pyannote's own apply marks them
        return self.assemble(found, count, num_speakers, min_speakers, max_speakers, uri, hook)

    def window_embeddings(
        self, file: Any, count: Any, hook: Hook
    ) -> tuple[windows.Windows, np.ndarray]:
        """The speech windows and one d-vector each (rows without enough speech dropped)."""
        import torch

        waveform, rate = self.waveform(file)
        total = waveform.shape[-1] / rate
        frames = count.sliding_window
        centres = windows.frame_centres(frames.start, frames.duration, frames.step, len(count))
        found = windows.speech_windows(
            count.data[:, 0], centres, total, self.window, self.hop,
            exclude_overlap=self.exclude_overlap,
        )  # fmt: skip
        size = round(self.window * rate)
        batch = self.embedding_batch_size
        out = []
        batches = -(-len(found.starts) // batch)
        for i in range(batches):
            chunks = cut(waveform[0], found.starts[i * batch : (i + 1) * batch], rate, size)
            masks = torch.from_numpy(found.masks[i * batch : (i + 1) * batch])
            out.append(self._embedding(chunks[:, None], masks))
            hook("embeddings", None, total=batches, completed=i + 1)
        embeddings = np.concatenate(out) if out else np.zeros((0, self._embedding.dimension))
        ok = ~np.isnan(embeddings).any(1)
        found = windows.Windows(found.starts[ok], found.first[ok], found.masks[ok])
        return found, embeddings[ok]

    def assemble(
        self,
        found: tuple[windows.Windows, np.ndarray],
        count: Any,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
        uri: str | None,
        hook: Hook | None = None,
    ) -> DiarizeOutput:
        """Cluster the windows, label the frames, and build pyannote's output (``hook`` is
        told when the frames are labelled, before the turns are built, as in pyannote)."""
        from pyannote.core import SlidingWindowFeature

        spans, embeddings = found
        num, low, high = set_num_speakers(num_speakers, min_speakers, max_speakers)
        x = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(1e-10)
        if len(x) == 0:
            x = np.ones((1, self._embedding.dimension)) / np.sqrt(self._embedding.dimension)
            labels = np.zeros(1, dtype=int)
        else:
            bound = len(x) if high == np.inf else int(high)  # as pyannote's set_num_clusters
            labels = self.clustering.cluster(x, min_clusters=low, max_clusters=bound,
                                             num_clusters=num, pruning=self.pruning)  # fmt: skip
            labels = np.unique(labels, return_inverse=True)[1]
        centroids = np.stack([x[labels == k].mean(0) for k in range(labels.max() + 1)])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(1e-10)
        scores = windows.frame_scores(spans, x @ centroids.T, len(count), self.taper)
        talking = count.data[:, 0].astype(int)
        talking = np.minimum(talking, 1 if not self.keep_overlap else high)
        annotations: list[Any] = []
        for cap in (talking, np.minimum(talking, 1)):  # then the exclusive diarization
            binary = windows.label_frames(scores, cap)
            discrete = SlidingWindowFeature(binary, count.sliding_window)
            if hook is not None and not annotations:
                hook("discrete_diarization", discrete)
            annotation = self.to_annotation(
                discrete, min_duration_on=0.0, min_duration_off=self.segmentation.min_duration_off
            )
            annotation.uri = uri
            annotations.append(annotation)
        diarization, exclusive = annotations
        order = [int(label) for label in diarization.labels()]
        if not low <= len(order) <= high:  # as pyannote's own pipeline warns (the CLI logs it)
            warnings.warn(
                f"The detected number of speakers ({len(order)}) for {uri} is outside the "
                f"given bounds [{low}, {high}]: the audio may be too short for that many.",
                stacklevel=2,
            )
        mapping = {label: f"SPEAKER_{k:02d}" for k, label in enumerate(order)}
        return DiarizeOutput(
            speaker_diarization=diarization.rename_labels(mapping=mapping),
            exclusive_speaker_diarization=exclusive.rename_labels(mapping=mapping),
            speaker_embeddings=centroids[order],
        )
