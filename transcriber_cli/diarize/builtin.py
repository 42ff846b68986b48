"""The built-in speaker pipeline: weights shipped inside this package, no hub, no token.

pyannote/segmentation (v2, MIT; from the whisperx 3.8.6 wheel) finds up to three local
speakers in 5 s windows; Resemblyzer's GE2E d-vector encoder (Apache-2.0) embeds each; our
spectral clustering links them across the recording and estimates the count. pyannote 4's
own ``SpeakerDiarization`` does the rest (windows, overlap, reconstruction). Its
``__init__`` insists on hub models (``plda=None`` is a TypeError, and a custom embedding
falls back to the hub), so ``BuiltinSpeakerDiarization`` replaces only ``__init__``.
``weights/NOTICE.md`` names each file's origin, sha256 and licence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pyannote.audio import Audio, Inference, Pipeline
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.segmentation import PyanNet
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.pipeline.parameter import ParamDict, Uniform

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
