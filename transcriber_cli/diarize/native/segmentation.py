"""pyannote's PyanNet segmentation network (SincNet, LSTM, linear layers, classifier) as a
plain torch module, so a checkpoint runs without importing pyannote.audio.

Ported from pyannote.audio 4.0.7 (MIT): ``models/segmentation/PyanNet.py``,
``models/blocks/sincnet.py`` and ``Model.default_activation``/``Model.receptive_field``. The
layers, their names (a pyannote ``state_dict`` loads as is) and the order of operations are
pyannote's, so scores are the same to the bit on a CPU (tests/diarize/test_native_segmentation.py).
The sinc filterbank is asteroid-filterbanks', as in pyannote.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from asteroid_filterbanks import Encoder, ParamSincFB
from torch import nn

from transcriber_cli.diarize.native.checkpoint import (
    Checkpoint,
    Problem,
    Specifications,
    Unsupported,
)
from transcriber_cli.diarize.native.receptive_field import ConvStack

PYANNET_MODULE = "pyannote.audio.models.segmentation.PyanNet"  # pyannote's, not a look-alike
SINCNET_DEFAULTS: dict[str, Any] = {"stride": 10}
LSTM_DEFAULTS: dict[str, Any] = {
    "hidden_size": 128, "num_layers": 2, "bidirectional": True, "monolithic": True,
    "dropout": 0.0,
}  # fmt: skip
LINEAR_DEFAULTS: dict[str, Any] = {"hidden_size": 128, "num_layers": 2}


class SincNet(nn.Module):
    def __init__(self, sample_rate: int = 16000, stride: int = 1) -> None:
        super().__init__()
        if sample_rate != 16000:
            raise Unsupported("SincNet runs at 16 kHz only (as in pyannote)")
        self.wav_norm1d = nn.InstanceNorm1d(1, affine=True)
        self.conv1d = nn.ModuleList(
            [
                Encoder(
                    ParamSincFB(
                        80,
                        251,
                        stride=stride,
                        sample_rate=sample_rate,
                        min_low_hz=50,
                        min_band_hz=50,
                    )
                ),
                nn.Conv1d(80, 60, 5, stride=1),
                nn.Conv1d(60, 60, 5, stride=1),
            ]
        )
        self.pool1d = nn.ModuleList([nn.MaxPool1d(3, stride=3) for _ in range(3)])
        self.norm1d = nn.ModuleList(
            [nn.InstanceNorm1d(80, affine=True), nn.InstanceNorm1d(60, affine=True),
             nn.InstanceNorm1d(60, affine=True)]
        )  # fmt: skip
        self.frames = ConvStack(kernel_size=[251, 3, 5, 3, 5, 3], stride=[stride, 3, 1, 3, 1, 3])

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        outputs = self.wav_norm1d(waveforms)
        for c, (conv1d, pool1d, norm1d) in enumerate(
            zip(self.conv1d, self.pool1d, self.norm1d, strict=True)
        ):
            outputs = conv1d(outputs)
            if c == 0:  # https://github.com/mravanelli/SincNet/issues/4
                outputs = torch.abs(outputs)
            outputs = F.leaky_relu(norm1d(pool1d(outputs)))
        return outputs


class PyanNet(nn.Module):
    """Scores (batch, frames, classes) for waveforms (batch, channel, samples)."""

    def __init__(self, hyper_parameters: dict[str, Any], specifications: Specifications) -> None:
        super().__init__()
        self.sample_rate = int(hyper_parameters.get("sample_rate", 16000))
        if int(hyper_parameters.get("num_channels", 1)) != 1:
            raise Unsupported("PyanNet with more than one channel")
        self.specifications = specifications
        sincnet = {**SINCNET_DEFAULTS, **(hyper_parameters.get("sincnet") or {})}
        lstm = {**LSTM_DEFAULTS, **(hyper_parameters.get("lstm") or {})}
        linear = {**LINEAR_DEFAULTS, **(hyper_parameters.get("linear") or {})}
        self.sincnet = SincNet(sample_rate=self.sample_rate, stride=int(sincnet["stride"]))
        self.monolithic = bool(lstm["monolithic"])
        self.num_lstm_layers = int(lstm["num_layers"])
        options = {k: lstm[k] for k in ("hidden_size", "bidirectional", "dropout")}
        width = int(lstm["hidden_size"]) * (2 if lstm["bidirectional"] else 1)
        self.lstm: nn.Module
        if self.monolithic:
            self.lstm = nn.LSTM(60, num_layers=self.num_lstm_layers, batch_first=True, **options)
        else:
            options["dropout"] = 0.0
            self.lstm = nn.ModuleList(
                [nn.LSTM(60 if i == 0 else width, num_layers=1, batch_first=True, **options)
                 for i in range(self.num_lstm_layers)]
            )  # fmt: skip
            if self.num_lstm_layers > 1:  # inactive in eval mode, kept for its place
                self.dropout = nn.Dropout(p=float(lstm["dropout"]))
        sizes = [width] + [int(linear["hidden_size"])] * int(linear["num_layers"])
        self.linear = nn.ModuleList([nn.Linear(i, o) for i, o in pairwise(sizes)])
        self.classifier = nn.Linear(sizes[-1], self.dimension)
        self.activation = _activation(specifications)

    @property
    def dimension(self) -> int:
        if self.specifications.powerset:
            return _num_powerset_classes(self.specifications)
        return len(self.specifications.classes or [])

    def num_frames(self, num_samples: int) -> int:
        return self.sincnet.frames.num_frames(num_samples)

    def receptive_field_size(self, num_frames: int = 1) -> int:
        return self.sincnet.frames.receptive_field_size(num_frames)

    def receptive_field_center(self, frame: int = 0) -> int:
        return self.sincnet.frames.receptive_field_center(frame)

    @property
    def receptive_field(self) -> Any:
        """The frames' ``SlidingWindow`` in seconds, as pyannote's ``Model.receptive_field``."""
        from transcriber_cli.diarize.native.frames import receptive_field

        return receptive_field(self, self.sample_rate)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        outputs = self.sincnet(waveforms).transpose(1, 2)  # (batch, frame, feature)
        if self.monolithic:
            outputs, _ = self.lstm(outputs)
        else:
            layers: Any = self.lstm  # a ModuleList here
            for i, lstm in enumerate(layers):
                outputs, _ = lstm(outputs)
                if i + 1 < self.num_lstm_layers:
                    outputs = self.dropout(outputs)
        for linear in self.linear:
            outputs = F.leaky_relu(linear(outputs))
        return self.activation(self.classifier(outputs))


def _num_powerset_classes(specifications: Specifications) -> int:
    """Sets of at most ``powerset_max_classes`` of the classes, the empty set included."""
    from math import comb

    n = len(specifications.classes or [])
    return sum(comb(n, k) for k in range(int(specifications.powerset_max_classes or 0) + 1))


def _activation(specifications: Specifications) -> nn.Module:
    """pyannote's ``Model.default_activation`` for a single task."""
    if specifications.problem in (Problem.BINARY_CLASSIFICATION,
                                  Problem.MULTI_LABEL_CLASSIFICATION):  # fmt: skip
        return nn.Sigmoid()
    if specifications.problem == Problem.MONO_LABEL_CLASSIFICATION:
        return nn.LogSoftmax(dim=-1)
    raise Unsupported(f"a segmentation model for {specifications.problem.name}")


def build_segmentation(checkpoint: Checkpoint) -> PyanNet:
    """The checkpoint's network in eval mode on the CPU; ``Unsupported`` unless it is a
    single-task frame-level PyanNet."""
    if (checkpoint.module, checkpoint.architecture) != (PYANNET_MODULE, "PyanNet"):
        raise Unsupported(
            f"segmentation architecture {checkpoint.module}.{checkpoint.architecture}"
        )
    if checkpoint.specifications is None:
        raise Unsupported("a segmentation checkpoint without task specifications")
    model = PyanNet(checkpoint.hyper_parameters, checkpoint.specifications)
    try:
        model.load_state_dict(checkpoint.state_dict, strict=True)
    except RuntimeError as exc:
        raise Unsupported(f"segmentation weights: {str(exc).splitlines()[0]}") from None
    return model.eval()
