"""The built-in speaker pipeline on pyannote.audio (``builtin.py`` runs it without).

``diarization_runtime = "pyannote"`` runs this one; so does the bench's "tracks" method, the
method before issue 16: pyannote's own embedding per (5 s chunk, local speaker) track, which
mixed two voices wherever the segmentation gave both to one local speaker. pyannote 4's
``SpeakerDiarization`` supplies the segmentation, counting and output types. Its ``__init__``
insists on hub models (``plda=None`` is a TypeError, and a custom embedding falls back to the
hub), so ``BuiltinSpeakerDiarization`` replaces ``__init__`` (and ``apply``). The windows
method itself is ``builtin_method.WindowsMethod``, shared with the pipeline that runs without
pyannote.audio.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pyannote.audio import Audio, Inference, Pipeline
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.segmentation import PyanNet
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.clustering import BaseClustering
from pyannote.audio.utils.signal import binarize
from pyannote.core import SlidingWindowFeature
from pyannote.pipeline.parameter import ParamDict, Uniform

from transcriber_cli.diarize.builtin_method import (
    DVECTOR,
    SEGMENTATION,
    SEGMENTATION_STEP,
    WindowsMethod,
    read_segmentation,
)
from transcriber_cli.diarize.dvector import DVectorEmbedding
from transcriber_cli.diarize.spectral import SpectralClustering


def load_segmentation(path: Path = SEGMENTATION) -> PyanNet:
    """The shipped segmentation checkpoint as pyannote.audio's PyanNet."""
    ckpt = read_segmentation(path)
    model = PyanNet(**ckpt.hyper_parameters)
    model.specifications = Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        permutation_invariant=True,
        **ckpt.specifications,
    )
    model.build()  # the classifier layer depends on the specifications
    model.load_state_dict(ckpt.state_dict)
    return model.eval()  # dropout is on until eval()


class _SpectralClustering(BaseClustering):
    """pyannote's ``BaseClustering`` (its filtering of short/overlapped embeddings and the
    assignment of every embedding to the nearest centroid) with spectral clusters: what the
    "tracks" method calls."""

    expects_num_clusters = False
    cluster = SpectralClustering.cluster


class BuiltinSpeakerDiarization(WindowsMethod, SpeakerDiarization):
    def __init__(
        self,
        segmentation: Path = SEGMENTATION,
        embedding: Path = DVECTOR,
        segmentation_step: float = SEGMENTATION_STEP,
        batch_size: int = 16,
    ) -> None:
        Pipeline.__init__(self)
        self.legacy = False
        self.segmentation_model = str(segmentation)
        self.segmentation_step = segmentation_step
        self.embedding = str(embedding)
        self.embedding_batch_size = batch_size
        self.embedding_exclude_overlap = True
        self._plda = None  # no PLDA: the d-vectors are clustered by cosine similarity
        self.klustering = "SpectralClustering"
        self.der_variant = {"collar": 0.0, "skip_overlap": False}
        model = load_segmentation(segmentation)
        spec = model.specifications
        assert isinstance(spec, Specifications)  # one task, not a tuple of them
        duration = spec.duration
        self._segmentation = Inference(
            model,
            duration=duration,
            step=segmentation_step * duration,
            skip_aggregation=True,
            batch_size=batch_size,
        )
        self.segmentation = ParamDict(
            threshold=Uniform(0.1, 0.9), min_duration_off=Uniform(0.0, 1.0)
        )
        self._embedding = DVectorEmbedding(embedding)
        self._audio = Audio(sample_rate=self._embedding.sample_rate, mono="downmix")
        self.clustering = _SpectralClustering(metric="cosine")
        self._expects_num_speakers = False

    # "windows": identity from uniform short windows (builtin_method.WindowsMethod); "tracks":
    # pyannote's own embedding per (chunk, local speaker), the method before issue 16.
    method = "windows"

    def apply(  # type: ignore[override]
        self,
        file: Any,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        hook: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if self.method == "tracks":
            return super().apply(file, num_speakers, min_speakers, max_speakers, hook, **kwargs)
        hook = self.setup_hook(file, hook=hook)
        return self.diarize_windows(file, num_speakers, min_speakers, max_speakers, hook)

    def waveform(self, file: Any) -> tuple[Any, int]:
        return self._audio(file)

    def speech_count(self, file: Any, hook: Callable[..., Any]) -> SlidingWindowFeature:
        """Speakers talking in each frame, from the segmentation model (as pyannote counts)."""
        segmentations = self.get_segmentations(file, hook=hook)
        hook("segmentation", segmentations)
        binarized = binarize(segmentations, onset=self.segmentation.threshold, initial_state=False)
        frames = self._segmentation.model.receptive_field
        count = self.speaker_count(binarized, frames, warm_up=(0.0, 0.0))
        hook("speaker_counting", count)
        return count

    def to(self, device: torch.device) -> BuiltinSpeakerDiarization:
        self._embedding.to(device)  # not a pyannote model, so Pipeline.to skips it
        super().to(device)
        return self
