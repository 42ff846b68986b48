"""The built-in speaker pipeline: weights shipped inside this package, no hub, no token.

pyannote/segmentation (v2, MIT; from the whisperx 3.8.6 wheel) finds speech and counts the
speakers talking in each frame (5 s windows every 0.5 s); Resemblyzer's GE2E d-vector encoder
(Apache-2.0) embeds uniform 1.5 s windows of that speech; our spectral clustering links them
across the recording and estimates the count; each frame takes the speakers its windows
resemble most (``windows.py``). Embedding each (5 s chunk, local speaker) track instead, as
pyannote does (``method = "tracks"``, the method before issue 16), mixed two voices wherever
the segmentation gave both to one local speaker. pyannote 4's ``SpeakerDiarization`` supplies
the segmentation, counting and output types. Its ``__init__`` insists on hub models
(``plda=None`` is a TypeError, and a custom embedding falls back to the hub), so
``BuiltinSpeakerDiarization`` replaces ``__init__`` (and ``apply``).
``weights/NOTICE.md`` names each file's origin, sha256 and licence.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyannote.audio import Audio, Inference, Pipeline
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.segmentation import PyanNet
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.speaker_diarization import DiarizeOutput
from pyannote.audio.pipelines.utils.diarization import set_num_speakers
from pyannote.audio.utils.signal import binarize
from pyannote.core import Annotation, SlidingWindowFeature
from pyannote.pipeline.parameter import ParamDict, Uniform

from transcriber_cli.diarize import windows
from transcriber_cli.diarize.dvector import DVectorEmbedding
from transcriber_cli.diarize.spectral import SpectralClustering
from transcriber_cli.errors import DiarizationUnavailable

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


def load_segmentation(path: Path = SEGMENTATION) -> PyanNet:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    spec = ckpt["specifications"]
    model = PyanNet(**ckpt["hyper_parameters"])
    model.specifications = Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=spec["duration"],
        warm_up=tuple(spec["warm_up"]),
        classes=spec["classes"],
        permutation_invariant=True,
    )
    model.build()  # the classifier layer depends on the specifications
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()  # dropout is on until eval()


class BuiltinSpeakerDiarization(SpeakerDiarization):
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
        self.clustering = SpectralClustering(metric="cosine")
        self._expects_num_speakers = False

    # "windows": identity from uniform short windows (windows.py); "tracks": pyannote's own
    # embedding per (chunk, local speaker), the method before issue 16.
    method = "windows"
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
        count = self.speech_count(file, hook)
        uri = file.get("uri")
        if np.nanmax(count.data, initial=0) == 0:
            empty = np.zeros((0, self._embedding.dimension))
            return DiarizeOutput(Annotation(uri=uri), Annotation(uri=uri), empty)
        found = self.window_embeddings(file, count, hook)
        hook("embeddings", found[1])  # each step's end, as pyannote's own apply marks them
        return self.assemble(found, count, num_speakers, min_speakers, max_speakers, uri, hook)

    def speech_count(self, file: Any, hook: Callable[..., Any]) -> SlidingWindowFeature:
        """Speakers talking in each frame, from the segmentation model (as pyannote counts)."""
        segmentations = self.get_segmentations(file, hook=hook)
        hook("segmentation", segmentations)
        binarized = binarize(segmentations, onset=self.segmentation.threshold, initial_state=False)
        frames = self._segmentation.model.receptive_field
        count = self.speaker_count(binarized, frames, warm_up=(0.0, 0.0))
        hook("speaker_counting", count)
        return count

    def window_embeddings(
        self, file: Any, count: SlidingWindowFeature, hook: Callable[..., Any]
    ) -> tuple[windows.Windows, np.ndarray]:
        """The speech windows and one d-vector each (rows without enough speech dropped)."""
        waveform, rate = self._audio(file)
        total = waveform.shape[-1] / rate
        frames = count.sliding_window
        centres = windows.frame_centres(frames.start, frames.duration, frames.step, len(count))
        found = windows.speech_windows(
            count.data[:, 0], centres, total, self.window, self.hop,
            exclude_overlap=self.exclude_overlap,
        )  # fmt: skip
        size = round(self.window * rate)
        audio = waveform[0]  # no padded copy of the whole recording: only short ends are padded
        batch = self.embedding_batch_size
        out = []
        batches = -(-len(found.starts) // batch)
        for i in range(batches):
            starts = found.starts[i * batch : (i + 1) * batch]
            pieces = [audio[round(s * rate) :][:size] for s in starts]
            pad = torch.nn.functional.pad
            chunks = torch.stack([pad(p, (0, size - len(p))) for p in pieces])
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
        count: SlidingWindowFeature,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
        uri: str | None,
        hook: Callable[..., Any] | None = None,
    ) -> DiarizeOutput:
        """Cluster the windows, label the frames, and build pyannote's output (``hook`` is
        told when the frames are labelled, before the turns are built, as in pyannote)."""
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
        annotations: list[Annotation] = []
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
        mapping = {label: name for label, name in zip(order, self.classes())}
        return DiarizeOutput(
            speaker_diarization=diarization.rename_labels(mapping=mapping),
            exclusive_speaker_diarization=exclusive.rename_labels(mapping=mapping),
            speaker_embeddings=centroids[order],
        )

    def to(self, device: torch.device) -> BuiltinSpeakerDiarization:
        self._embedding.to(device)  # not a pyannote model, so Pipeline.to skips it
        super().to(device)
        return self


def load_builtin(*, device: str, batch_size: int) -> Any:
    try:
        pipeline = BuiltinSpeakerDiarization(batch_size=batch_size)
    except Exception as exc:  # a truncated or altered weights file: one line naming it
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise DiarizationUnavailable(
            f"cannot load the built-in speaker weights in {WEIGHTS}: "
            f"{type(exc).__name__}: {reason}",
            hint="reinstall transcriber-toolkit, or pass --diarization-model with a pyannote "
            "pipeline",
        ) from None
    pipeline.instantiate(PARAMETERS)
    return pipeline.to(torch.device(device))
