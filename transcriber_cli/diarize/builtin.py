"""The built-in speaker pipeline: weights shipped inside this package, no hub, no token.

pyannote/segmentation (v2, MIT; from the whisperx 3.8.6 wheel) finds speech and counts the
speakers talking in each frame (5 s windows every 0.5 s); Resemblyzer's GE2E d-vector encoder
(Apache-2.0) embeds uniform 1.5 s windows of that speech; our spectral clustering links them
across the recording and estimates the count; each frame takes the speakers its windows
resemble most (``windows.py``). ``weights/NOTICE.md`` names each file's origin, sha256 and
licence.

``BuiltinDiarization`` runs it without pyannote.audio, whose import (lightning, torchmetrics)
took 7-10 s on the bench's GPU machines before diarization could start: the segmentation
network, its sliding windows, thresholds and counting are this package's ports
(``native/segmentation.py``, ``native/frames.py``), equal to pyannote's. The same pipeline on
pyannote.audio (``diarization_runtime = "pyannote"``, and the "tracks" method the bench
compares against) is ``builtin_pyannote.py``; both share ``builtin_method.WindowsMethod``, so
the two differ only in who slides and counts (tests/diarize/test_builtin_native.py compares
them).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

from transcriber_cli.diarize.builtin_method import (
    DVECTOR,
    NAME,
    PARAMETERS,
    SEGMENTATION,
    SEGMENTATION_STEP,
    WEIGHTS,
    Hook,
    WindowsMethod,
    read_segmentation,
)
from transcriber_cli.diarize.native.pipeline import DiarizeOutput
from transcriber_cli.errors import DiarizationUnavailable, exception_line

_CLUSTERING = "transcriber_cli.diarize.spectral"
_CLUSTERING_NEEDS = ("scipy", "sklearn", "threadpoolctl")  # what it imports


def _import_clustering() -> None:
    # A failure is raised again, on the diarizing thread, where the clustering is made.
    with contextlib.suppress(BaseException):
        importlib.import_module(_CLUSTERING)


__all__ = ["DVECTOR", "NAME", "PARAMETERS", "SEGMENTATION", "WEIGHTS", "BuiltinDiarization",
           "load_builtin", "load_segmentation"]  # fmt: skip


class _Thresholds:
    """The tuned segmentation parameters, read as pyannote's instantiated ``ParamDict``."""

    def __init__(self, threshold: float, min_duration_off: float) -> None:
        self.threshold = threshold
        self.min_duration_off = min_duration_off


class BuiltinDiarization(WindowsMethod):
    """The built-in pipeline without pyannote.audio. Call it as pyannote's pipeline:
    ``pipeline(file, hook=..., num_speakers=...)`` with a mono 16 kHz waveform."""

    def __init__(
        self,
        segmentation: Path = SEGMENTATION,
        embedding: Path = DVECTOR,
        segmentation_step: float = SEGMENTATION_STEP,
        batch_size: int = 16,
    ) -> None:
        import torch

        from transcriber_cli.diarize.binarize import to_annotation
        from transcriber_cli.diarize.dvector import DVectorEmbedding
        from transcriber_cli.diarize.native.pyannote_core import import_pyannote_core

        import_pyannote_core()  # before anything of its own imports it with matplotlib

        # The clustering's scipy and scikit-learn took about 1 s to import here (2 cores) and
        # 1.7 s on a GPU machine's busy start, before any of the steps before it could run:
        # they are imported beside those steps instead, and waited for only at clustering.
        # Not installed fails the load, as before (finding a package runs none of its code).
        for package in _CLUSTERING_NEEDS:
            if importlib.util.find_spec(package) is None:
                raise ModuleNotFoundError(f"No module named {package!r}", name=package)
        self._clustering: Any = None
        threading.Thread(target=_import_clustering, name="import-clustering", daemon=True).start()
        self._segmentation = load_segmentation(segmentation)
        self.segmentation_step = segmentation_step
        self.segmentation_batch_size = batch_size
        self.embedding_batch_size = batch_size
        self._embedding = DVectorEmbedding(embedding)
        self.segmentation = _Thresholds(**PARAMETERS["segmentation"])
        self.to_annotation = to_annotation  # pyannote's, by its runs' edges (binarize.py)
        self.device = torch.device("cpu")

    @property
    def clustering(self) -> Any:
        """The spectral clustering, made at its first use (its module's import, begun at
        load, ends first)."""
        if self._clustering is None:
            try:
                module = importlib.import_module(_CLUSTERING)
            except Exception as exc:  # installed but broken: one line, not a traceback
                raise DiarizationUnavailable(
                    f"the built-in speakers' clustering cannot be imported: {exception_line(exc)}",
                    hint="reinstall scipy and scikit-learn, or run with --no-diarize",
                ) from None
            self._clustering = module.SpectralClustering()
        return self._clustering

    def to(self, device: Any) -> BuiltinDiarization:
        import torch

        self.device = torch.device(device)
        self._segmentation.to(self.device)
        self._embedding.to(self.device)
        return self

    def __call__(
        self,
        file: dict[str, Any],
        *,
        hook: Hook | None = None,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> DiarizeOutput:
        from transcriber_cli.diarize.native.pipeline import start_call

        file = {"uri": "waveform", **file}  # pyannote's name for audio given as a waveform
        hook = start_call(self.device, file, hook)
        return self.diarize_windows(file, num_speakers, min_speakers, max_speakers, hook)

    def waveform(self, file: Any) -> tuple[Any, int]:
        waveform, rate = file["waveform"], file["sample_rate"]
        if rate != self._embedding.sample_rate or waveform.shape[0] != 1:
            raise ValueError("the built-in pipeline takes mono audio at 16 kHz")
        return waveform, rate

    def speech_count(self, file: Any, hook: Hook) -> Any:
        """Speakers talking in each frame, from the segmentation model (as pyannote counts)."""
        from transcriber_cli.diarize.native import frames

        model = self._segmentation
        duration = model.specifications.duration
        waveform, _ = self.waveform(file)
        segmentations = frames.slide(
            lambda batch: model(batch.to(self.device)),
            waveform,
            sample_rate=model.sample_rate,
            duration=duration,
            step=self.segmentation_step * duration,
            batch_size=self.segmentation_batch_size,
            powerset=None,
            hook=functools.partial(hook, "segmentation", None),
        )
        hook("segmentation", segmentations)
        binarized = frames.binarize(segmentations, onset=self.segmentation.threshold)
        count = frames.speaker_count(binarized, model.receptive_field, warm_up=(0.0, 0.0))
        hook("speaker_counting", count)
        return count


def load_segmentation(path: Path = SEGMENTATION) -> Any:
    """The shipped segmentation checkpoint as this package's PyanNet."""
    from transcriber_cli.diarize.native.checkpoint import Problem, Resolution, Specifications
    from transcriber_cli.diarize.native.segmentation import PyanNet

    ckpt = read_segmentation(path)
    specifications = Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        permutation_invariant=True,
        **ckpt.specifications,
    )
    model = PyanNet(ckpt.hyper_parameters, specifications)
    model.load_state_dict(ckpt.state_dict)
    return model.eval()  # dropout is on until eval()


def load_builtin(
    *, device: str, batch_size: int, embedding_batch_size: int = 0, native: bool = True
) -> Any:
    """The built-in pipeline on ``device``: this package's (``native``) or pyannote's;
    ``batch_size`` windows a batch, or ``embedding_batch_size`` for the d-vectors if given."""
    import torch

    if not native:  # imported outside the try: a broken pyannote.audio is not our weights
        from transcriber_cli.diarize.builtin_pyannote import BuiltinSpeakerDiarization
    try:
        if native:
            pipeline: Any = BuiltinDiarization(batch_size=batch_size)
        else:
            pipeline = BuiltinSpeakerDiarization(batch_size=batch_size)
            pipeline.instantiate(PARAMETERS)
    except Exception as exc:  # a truncated or altered weights file: one line naming it
        raise DiarizationUnavailable(
            f"cannot load the built-in speaker weights in {WEIGHTS}: {exception_line(exc)}",
            hint="reinstall transcriber-toolkit, or pass --diarization-model with a pyannote "
            "pipeline",
        ) from None
    pipeline.embedding_batch_size = embedding_batch_size or batch_size
    return pipeline.to(torch.device(device))
