"""pyannote's ``SpeakerDiarization`` pipeline (community-1's shape) without pyannote.audio.

Importing pyannote.audio imports lightning, and through it torch._dynamo and torchmetrics:
7-10 s on the bench's GPU machines (bench/production.md), most of the time a diarization
waits before it can start, and Python that holds the GIL while transcription runs beside it.
This pipeline reads the same directory (``config.yaml``, ``segmentation/``, ``embedding/``,
``plda/``) and runs the same steps with the same numbers, from this package's ports of
pyannote.audio 4.0.7's networks (``segmentation``, ``wespeaker``), frame bookkeeping
(``frames``) and clustering (``vbx``); ``SpeakerDiarization.apply`` is followed step by step.

Only what it runs is accepted: a PyanNet segmentation, a WeSpeaker ResNet embedding and VBx
clustering, from files in the directory, checkpoints that need nothing unpickled beyond
pyannote's task records. Anything else raises ``Unsupported`` and the caller loads pyannote
instead. The result has the fields of pyannote's ``DiarizeOutput``, so the diarizer that wraps
either pipeline (``pyannote_pipeline.PyannoteDiarizer``) treats both alike.
"""

from __future__ import annotations

import functools
import textwrap
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transcriber_cli.diarize.chunk_embeddings import embed_windows
from transcriber_cli.diarize.native.checkpoint import Unsupported, load_checkpoint

Hook = Callable[..., Any]

# What config.yaml may hold for this pipeline to run it; anything else is pyannote's to run.
_PIPELINE = "pyannote.audio.pipelines.SpeakerDiarization"
_PIPELINE_PARAMS = {
    "clustering", "embedding", "embedding_batch_size", "embedding_exclude_overlap", "plda",
    "segmentation", "segmentation_batch_size", "segmentation_step", "legacy", "der_variant",
}  # fmt: skip
_WESPEAKER_MODULE = "pyannote.audio.models.embedding.wespeaker"
PORTED_FROM = "4.0.7"  # the pyannote.audio these steps follow


@dataclass
class DiarizeOutput:
    """pyannote 4's ``DiarizeOutput`` fields."""

    speaker_diarization: Any  # pyannote.core.Annotation
    exclusive_speaker_diarization: Any
    speaker_embeddings: np.ndarray


class NativeSpeakerDiarization:
    """Call it as pyannote's pipeline: ``pipeline(file, hook=..., num_speakers=...)``."""

    def __init__(
        self,
        segmentation: Any,
        embedding: Any,
        clustering: Any,
        *,
        segmentation_step: float,
        embedding_exclude_overlap: bool,
        min_duration_off: float,
        threshold: float | None,
        segmentation_batch_size: int,
        embedding_batch_size: int,
    ) -> None:
        import torch

        from transcriber_cli.diarize.native.pyannote_core import import_pyannote_core

        import_pyannote_core()  # before anything of its own imports it with matplotlib
        self._segmentation = segmentation
        self._embedding = embedding
        self.clustering = clustering  # its threshold also links speakers across spans
        self.segmentation_step = segmentation_step
        self.embedding_exclude_overlap = embedding_exclude_overlap
        self.min_duration_off = min_duration_off
        self.threshold = threshold  # multi-label segmentation only (powerset needs none)
        self.segmentation_batch_size = segmentation_batch_size
        self.embedding_batch_size = embedding_batch_size
        self.device = torch.device("cpu")
        # Whether this call's embeddings run in float16 (CUDA only; the diarizer decides).
        self.embeddings_in_half: Callable[[], bool] = lambda: False

    def to(self, device: Any) -> NativeSpeakerDiarization:
        import torch

        self.device = torch.device(device)
        self._segmentation.to(self.device)
        self._embedding.to(self.device)
        self.__dict__.pop("min_num_samples", None)
        return self

    @functools.cached_property
    def min_num_samples(self) -> int:
        """The fewest samples the embedding model takes, found as pyannote finds it."""
        import torch

        rate = self._embedding.sample_rate
        lower, upper = 2, round(0.5 * rate)
        middle = (lower + upper) // 2
        with torch.inference_mode():
            while lower + 1 < upper:
                try:
                    self._embedding(torch.randn(1, 1, middle).to(self.device))
                    upper = middle
                except Exception:  # too short for its convolutions: any error means that
                    lower = middle
                middle = (lower + upper) // 2
        return upper

    def __call__(
        self,
        file: dict[str, Any],
        *,
        hook: Hook | None = None,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> DiarizeOutput:
        from pyannote.core import Annotation

        from transcriber_cli.diarize.binarize import to_annotation
        from transcriber_cli.diarize.native import frames

        hook = start_call(self.device, file, hook)
        num_speakers, low, high = set_num_speakers(num_speakers, min_speakers, max_speakers)
        waveform = file["waveform"]
        if file["sample_rate"] != self._segmentation.sample_rate or waveform.shape[0] != 1:
            raise ValueError("the native pipeline takes mono audio at the models' sample rate")
        model = self._segmentation
        specifications = model.specifications
        powerset = specifications.powerset
        segmentations = frames.slide(
            lambda batch: model(batch.to(self.device)),
            waveform,
            sample_rate=model.sample_rate,
            duration=specifications.duration,
            step=self.segmentation_step * specifications.duration,
            batch_size=self.segmentation_batch_size,
            powerset=(len(specifications.classes), specifications.powerset_max_classes)
            if powerset else None,
            hook=functools.partial(hook, "segmentation", None),
        )  # fmt: skip
        hook("segmentation", segmentations)
        if powerset:
            binarized = segmentations
        else:
            assert self.threshold is not None  # load_native requires it without a powerset
            binarized = frames.binarize(segmentations, onset=self.threshold)
        count = frames.speaker_count(binarized, model.receptive_field, warm_up=(0.0, 0.0))
        hook("speaker_counting", count)
        uri = file.get("uri", "waveform")  # pyannote's name for audio given as a waveform
        if np.nanmax(count.data) == 0.0:
            return DiarizeOutput(
                Annotation(uri=uri), Annotation(uri=uri),
                np.zeros((0, self._embedding.dimension)),
            )  # fmt: skip
        embeddings = self.get_embeddings(waveform, binarized, hook=hook)
        hook("embeddings", embeddings)
        hard_clusters, _, centroids = self.clustering(
            embeddings, binarized.data, num_clusters=num_speakers, min_clusters=low,
            max_clusters=high,
        )  # fmt: skip
        found = np.max(hard_clusters) + 1
        if found < low or found > high:
            warnings.warn(_bounds_message(found, uri, low, high), stacklevel=2)
        # counting may overcount where segmentation errs: at most max_speakers at once
        count.data = np.minimum(count.data, high).astype(np.int8)
        inactive = np.sum(binarized.data, axis=1) == 0
        hard_clusters[inactive] = -2
        discrete = frames.reconstruct(segmentations, hard_clusters, count)
        hook("discrete_diarization", discrete)
        diarization = to_annotation(discrete, min_duration_on=0.0,
                                    min_duration_off=self.min_duration_off)  # fmt: skip
        diarization.uri = uri
        count.data = np.minimum(count.data, 1).astype(np.int8)
        exclusive = to_annotation(
            frames.reconstruct(segmentations, hard_clusters, count),
            min_duration_on=0.0, min_duration_off=self.min_duration_off,
        )  # fmt: skip
        exclusive.uri = uri
        labels = diarization.labels()
        mapping = {label: f"SPEAKER_{k:02d}" for k, label in enumerate(labels)}
        diarization = diarization.rename_labels(mapping=mapping)
        exclusive = exclusive.rename_labels(mapping=mapping)
        # centroids in the order of the renamed labels; zero rows for speakers the counting
        # found beyond the clusters
        if len(labels) > centroids.shape[0]:
            centroids = np.pad(centroids, ((0, len(labels) - centroids.shape[0]), (0, 0)))
        inverse = {name: label for label, name in mapping.items()}
        centroids = centroids[[inverse[name] for name in diarization.labels()]]
        return DiarizeOutput(diarization, exclusive, centroids)

    def get_embeddings(self, waveform: Any, binarized: Any, hook: Hook) -> np.ndarray:
        """(chunks, local speakers, dimension) embeddings, one network pass per window and a
        pooling per local speaker (``chunk_embeddings``), with pyannote's masks."""
        model = self._embedding
        return embed_windows(
            model, _windows(waveform, binarized, model.sample_rate), binarized,
            device=self.device, batch_size=self.embedding_batch_size,
            sample_rate=model.sample_rate,
            min_num_samples=self.min_num_samples if self.embedding_exclude_overlap else None,
            half=self.device.type == "cuda" and self.embeddings_in_half(),
            dimension=model.dimension, hook=hook,
        )  # fmt: skip


def _windows(waveform: Any, binarized: Any, sample_rate: int) -> Iterator[Any]:
    """Each chunk's samples, zero-padded past either end: pyannote's ``Audio.crop(file,
    chunk, mode="pad")`` on a waveform in memory (sample = round(seconds x rate))."""
    import torch.nn.functional as F

    total = waveform.shape[1]
    for chunk, _ in binarized:
        start = round(chunk.start * sample_rate)
        end = round(chunk.end * sample_rate)
        pad_start, pad_end = max(0, -start), max(end, total) - total
        yield F.pad(waveform[:, max(start, 0) : min(end, total)], (pad_start, pad_end))


def start_call(device: Any, file: dict[str, Any], hook: Hook | None) -> Hook:
    """What pyannote's ``Pipeline.__call__`` does before ``apply``, for its ports: TF32 off on
    CUDA (its issue 1370), for the same numbers; the hook bound to the file (``setup_hook``)."""
    if device.type == "cuda":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return functools.partial(hook or _no_hook, file=file)


def _no_hook(*args: Any, **kwargs: Any) -> None:
    return None


def set_num_speakers(
    num_speakers: int | None, min_speakers: int | None, max_speakers: int | None
) -> tuple[int | None, int, float]:
    """pyannote's ``set_num_speakers``: a known count overrides both bounds."""
    low = num_speakers or min_speakers or 1
    high: float = num_speakers or max_speakers or np.inf
    if low > high:
        raise ValueError(
            f"min_speakers must be smaller than (or equal to) max_speakers "
            f"(here: min_speakers={low:g} and max_speakers={high:g})."
        )
    if low == high:
        num_speakers = low
    return num_speakers, low, high


def _bounds_message(found: int, uri: Any, low: int, high: float) -> str:
    """pyannote's warning, word for word: the diarizer logs it by its "number of speakers"."""
    return textwrap.dedent(
        f"""
    The detected number of speakers ({found}) for {uri} is outside
    the given bounds [{low}, {high}]. This can happen if the
    given audio file is too short to contain {low} or more speakers.
    Try to lower the desired minimal number of speakers.
    """
    )


def load_native(directory: Path) -> NativeSpeakerDiarization:
    """The pipeline in ``directory`` on the CPU, or ``Unsupported`` (then pyannote runs it).

    Only a config that pyannote 4.0.7 would run the same way is taken: every parameter set
    (pyannote replaces them all by its defaults when one is missing), nothing it would
    refuse or read that is not ported here."""
    import yaml

    from transcriber_cli.diarize.native.segmentation import build_segmentation
    from transcriber_cli.diarize.native.vbx import VBxClustering
    from transcriber_cli.diarize.native.wespeaker import build_embedding

    directory = Path(directory)
    try:
        config = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise Unsupported(f"{directory}/config.yaml: {type(exc).__name__}") from None
    config = _mapping(config, "config.yaml")
    if set(config) - {"dependencies", "pipeline", "params"}:  # "version": a pyannote 3 config
        raise Unsupported(f"config.yaml sections {sorted(set(config))}")
    _check_dependencies(config.get("dependencies"))
    pipeline = _mapping(config.get("pipeline"), "pipeline")
    params = _mapping(pipeline.get("params", {}), "pipeline.params")
    if pipeline.get("name") != _PIPELINE or set(params) - _PIPELINE_PARAMS:
        raise Unsupported(f"pipeline {pipeline.get('name')} with {sorted(params)}")
    if params.get("clustering", "VBxClustering") != "VBxClustering" or params.get("legacy", False):
        raise Unsupported(f"clustering {params.get('clustering')}, legacy {params.get('legacy')}")
    step = _number(params.get("segmentation_step", 0.1), "segmentation_step")
    if not 0 < step <= 1:  # pyannote refuses a step past the window and replaces 0
        raise Unsupported(f"segmentation_step {step}")
    exclude_overlap = params.get("embedding_exclude_overlap", False)
    if not isinstance(exclude_overlap, bool):
        raise Unsupported(f"embedding_exclude_overlap {exclude_overlap!r}")
    segmentation = build_segmentation(load_checkpoint(_local(directory, params, "segmentation")))
    checkpoint = load_checkpoint(_local(directory, params, "embedding"))
    if checkpoint.module != _WESPEAKER_MODULE:
        raise Unsupported(f"embedding architecture {checkpoint.module}.{checkpoint.architecture}")
    try:
        embedding = build_embedding(
            checkpoint.architecture, checkpoint.hyper_parameters, checkpoint.state_dict
        )
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    if embedding.sample_rate != segmentation.sample_rate:  # pyannote would resample; not here
        raise Unsupported(f"embedding at {embedding.sample_rate} Hz")
    powerset = segmentation.specifications.powerset
    tuned = _mapping(config.get("params"), "params")
    segmentation_params = _mapping(tuned.get("segmentation"), "params.segmentation")
    clustering_params = _mapping(tuned.get("clustering"), "params.clustering")
    wanted = {"min_duration_off"} if powerset else {"min_duration_off", "threshold"}
    if (
        set(tuned) != {"segmentation", "clustering"}
        or set(segmentation_params) != wanted
        or (set(clustering_params) != {"threshold", "Fa", "Fb"})
    ):
        raise Unsupported(f"params {tuned}")
    clustering = VBxClustering(
        _local(directory, params, "plda"),
        **{name: _number(value, name) for name, value in clustering_params.items()},
    )
    return NativeSpeakerDiarization(
        segmentation.eval(),
        embedding.eval(),
        clustering,
        segmentation_step=step,
        embedding_exclude_overlap=exclude_overlap,
        min_duration_off=_number(segmentation_params["min_duration_off"], "min_duration_off"),
        threshold=None if powerset else _number(segmentation_params["threshold"], "threshold"),
        segmentation_batch_size=int(_number(params.get("segmentation_batch_size", 1), "batch")),
        embedding_batch_size=int(_number(params.get("embedding_batch_size", 1), "batch")),
    )


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unsupported(f"{name} is not a mapping")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"{name}: {value!r} is not a number")
    return float(value)


def _check_dependencies(dependencies: Any) -> None:
    """pyannote.audio 4 up to the version ported here: a config asking for a later one (or
    for another package) is for pyannote to accept or refuse."""
    from packaging.version import InvalidVersion, Version

    dependencies = _mapping(dependencies if dependencies is not None else {}, "dependencies")
    if set(dependencies) - {"pyannote.audio"}:
        raise Unsupported(f"dependencies {sorted(dependencies)}")
    if "pyannote.audio" in dependencies:
        try:
            wanted = Version(str(dependencies["pyannote.audio"]))
        except InvalidVersion:
            raise Unsupported(f"pyannote.audio {dependencies['pyannote.audio']!r}") from None
        if not Version("4") <= wanted <= Version(PORTED_FROM):
            raise Unsupported(f"a pipeline for pyannote.audio {wanted}")


def _local(directory: Path, params: dict[str, Any], name: str) -> Path:
    """``$model/<sub>`` of config.yaml, inside ``directory``; a hub id or anything else is
    for pyannote to fetch."""
    value = params.get(name)
    if not isinstance(value, str) or not value.startswith("$model/"):
        raise Unsupported(f"{name}: {value!r} is not a folder of this pipeline")
    path = (directory / value.removeprefix("$model/")).resolve()
    if not path.is_relative_to(directory.resolve()) or not path.exists():
        raise Unsupported(f"{name}: {value!r} is not a folder of this pipeline")
    return path
