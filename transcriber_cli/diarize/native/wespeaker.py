"""WeSpeaker's ResNet speaker embedding (community-1's embedding model), without pyannote.audio.

Importing ``pyannote.audio`` pulls in lightning, torch._dynamo and torchmetrics: 7-9 s on our
GPU machines before diarization can start. This module needs only torch and torchaudio and
loads the same checkpoints: ``build_embedding`` takes the architecture name, hyper-parameters
and ``state_dict`` that pyannote stores in ``pytorch_model.bin``, with the same parameter keys.

Ported from pyannote.audio 4.0.7 (MIT, (c) CNRS) ``models/embedding/wespeaker/``, which derives
from WeSpeaker (Apache-2.0, (c) Shuai Wang, Zhengyang Chen, Bing Han): the Kaldi filterbank
features and their centering (``BaseWeSpeakerResNet.compute_fbank``), the ResNet blocks and
trunk (``resnet.py``), the statistics pooling (``TSTP`` and ``models/blocks/pooling.py``'s
``StatsPool``) and the frame arithmetic (``utils/receptive_field.py``). Operations run in the
same order as there, so outputs are bitwise equal to pyannote's
(tests/diarize/test_native_wespeaker.py). Training-only parts (Lightning, tasks, WeSpeaker's
second embedding layer, which the pyannote models leave out) are not ported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi
from torch import nn

from transcriber_cli.diarize.native.receptive_field import conv1d_num_frames

# Convolutions of the frame axis, as (kernel_size, stride, padding).
_Conv = tuple[int, int, int]


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.convs: tuple[_Conv, ...] = ((3, stride, 1), (3, 1, 1))
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.convs: tuple[_Conv, ...] = ((1, 1, 0), (3, stride, 1), (1, 1, 0))
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += self.shortcut(x)
        return F.relu(out)


_Block = type[_BasicBlock] | type[_Bottleneck]


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """Identity (an empty Sequential, as in WeSpeaker) unless the block changes the shape."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


def _pool(sequences: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean and unbiased (reliability weights) std of (batch, features, frames)
    ``sequences`` under (batch, frames) ``weights``. All-zero weights give zeros, not NaN:
    the 1e-8 terms keep both denominators positive."""
    weights = weights.unsqueeze(dim=1)
    v1 = weights.sum(dim=2) + 1e-8
    mean = torch.sum(sequences * weights, dim=2) / v1
    dx2 = torch.square(sequences - mean.unsqueeze(2))
    v2 = torch.square(weights).sum(dim=2)
    var = torch.sum(dx2 * weights, dim=2) / (v1 - v2 / v1 + 1e-8)
    std = torch.sqrt(var)
    return torch.cat([mean, std], dim=1)


def _stats_pool(sequences: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """pyannote's ``StatsPool``: (batch, 2 * features) mean and std over frames, or with
    (batch, speakers, frames) weights one row per speaker, (batch, speakers, 2 * features).
    Weights on another frame count are resampled (nearest) to the sequences' frames."""
    if weights is None:
        mean = sequences.mean(dim=-1)
        std = sequences.std(dim=-1, correction=1)
        return torch.cat([mean, std], dim=-1)
    has_speaker_dimension = weights.dim() == 3
    if not has_speaker_dimension:
        weights = weights.unsqueeze(dim=1)
    num_frames = sequences.size(2)
    num_speakers, num_weights = weights.size(1), weights.size(2)
    if num_frames != num_weights:
        weights = F.interpolate(weights, size=num_frames, mode="nearest")
    output = torch.stack(
        [_pool(sequences, weights[:, speaker, :]) for speaker in range(num_speakers)], dim=1
    )
    return output if has_speaker_dimension else output.squeeze(dim=1)


class _ResNet(nn.Module):
    """WeSpeaker's ResNet trunk with temporal statistics pooling and one embedding layer
    (pyannote's models all use ``two_emb_layer=False``)."""

    def __init__(
        self,
        block: _Block,
        num_blocks: Sequence[int],
        feat_dim: int,
        embed_dim: int,
        m_channels: int = 32,
    ) -> None:
        super().__init__()
        self.in_planes = m_channels
        self.embed_dim = embed_dim
        self.convs: list[_Conv] = [(3, 1, 1)]
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = self._make_layer(block, m_channels, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, m_channels * 2, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, m_channels * 4, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, m_channels * 8, num_blocks[3], stride=2)
        # The pooled features: channels times the frequency bins left after three stride-2
        # layers, mean and std of each.
        stats_dim = int(feat_dim / 8) * m_channels * 8 * block.expansion
        self.seg_1 = nn.Linear(stats_dim * 2, embed_dim)

    def _make_layer(
        self, block: _Block, planes: int, num_blocks: int, stride: int
    ) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (num_blocks - 1):
            layer = block(self.in_planes, planes, block_stride)
            self.convs.extend(layer.convs)
            layers.append(layer)
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def num_frames(self, num_frames: int) -> int:
        """Output frames for ``num_frames`` filterbank frames (the shortcuts never change it)."""
        for kernel_size, stride, padding in self.convs:
            num_frames = conv1d_num_frames(num_frames, kernel_size, stride, padding)
        return num_frames

    def forward_frames(self, fbank: torch.Tensor) -> torch.Tensor:
        """(batch, frames, features) filterbanks -> (batch, channels, bins, frames)."""
        fbank = fbank.permute(0, 2, 1).unsqueeze(1)
        out = F.relu(self.bn1(self.conv1(fbank)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        return self.layer4(out)

    def forward_embedding(
        self, frames: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """TSTP: pool (channels x bins) features over frames, then the embedding layer."""
        stats = _stats_pool(frames.flatten(start_dim=1, end_dim=2), weights)
        return self.seg_1(stats)


class WeSpeakerResNet(nn.Module):
    """pyannote's ``BaseWeSpeakerResNet`` for inference: waveforms in, speaker embeddings
    out. Parameters as there (milliseconds for frame length and shift; a running average
    over ``fbank_centering_span`` seconds, or the whole input when None, is subtracted from
    the filterbanks). Build it with ``build_embedding``."""

    def __init__(
        self,
        block: _Block,
        num_blocks: Sequence[int],
        *,
        sample_rate: int = 16000,
        num_mel_bins: int = 80,
        frame_length: float = 25,
        frame_shift: float = 10,
        round_to_power_of_two: bool = True,
        snip_edges: bool = True,
        dither: float = 0.0,
        window_type: str = "hamming",
        use_energy: bool = False,
        fbank_centering_span: float | None = None,
    ) -> None:
        super().__init__()
        self._sample_rate = sample_rate
        self.frame_length = frame_length
        self.frame_shift = frame_shift
        self.fbank_centering_span = fbank_centering_span
        self._fbank = partial(
            kaldi.fbank,
            num_mel_bins=num_mel_bins,
            frame_length=frame_length,
            round_to_power_of_two=round_to_power_of_two,
            frame_shift=frame_shift,
            snip_edges=snip_edges,
            dither=dither,
            sample_frequency=sample_rate,
            window_type=window_type,
            use_energy=use_energy,
        )
        self.resnet = _ResNet(block, num_blocks, feat_dim=num_mel_bins, embed_dim=256)

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def dimension(self) -> int:
        """Size of an embedding."""
        return self.resnet.embed_dim

    def _window_and_step(self) -> tuple[int, int]:
        """Filterbank window and step in samples, rounded as pyannote rounds them."""
        window_size = int(self._sample_rate * self.frame_length * 0.001)
        step_size = int(self._sample_rate * self.frame_shift * 0.001)
        return window_size, step_size

    def num_frames(self, num_samples: int) -> int:
        """Frames of ``forward_frames``'s output for ``num_samples`` input samples (like
        pyannote, as if ``snip_edges`` were set)."""
        window_size, step_size = self._window_and_step()
        fbank_frames = conv1d_num_frames(num_samples, window_size, step_size)
        return self.resnet.num_frames(fbank_frames)

    def compute_fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, channels, samples) waveforms in [-1, 1] -> (batch, frames, num_mel_bins)
        centered log-mel filterbanks (Kaldi's, of the first channel)."""
        # Kaldi features expect 16-bit sample values.
        waveforms = waveforms * (1 << 15)
        # MPS has no FFT yet: compute the features on the CPU there.
        device = waveforms.device
        fft_device = torch.device("cpu") if device.type == "mps" else device
        features = torch.vmap(self._fbank)(waveforms.to(fft_device)).to(device)
        if self.fbank_centering_span is None:
            return features - torch.mean(features, dim=1, keepdim=True)
        window_size, step_size = self._window_and_step()
        span = int(self.fbank_centering_span * self._sample_rate)
        kernel_size = conv1d_num_frames(span, window_size, step_size)
        # An odd window centred on each frame; shorter (not zero-padded) at the edges.
        running_mean = F.avg_pool1d(
            features.transpose(1, 2),
            kernel_size=2 * (kernel_size // 2) + 1,
            stride=1,
            padding=kernel_size // 2,
            count_include_pad=False,
        )
        return features - running_mean.transpose(1, 2)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, channels, samples) waveforms -> (batch, dimension) embeddings; with
        (batch, frames) weights a weighted pooling, with (batch, speakers, frames) weights
        one embedding per speaker, (batch, speakers, dimension)."""
        return self.forward_embedding(self.forward_frames(waveforms), weights=weights)

    def forward_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, channels, samples) waveforms -> (batch, channels, bins, frames) features,
        the network up to the pooling, which ``forward_embedding`` finishes."""
        return self.resnet.forward_frames(self.compute_fbank(waveforms))

    def forward_embedding(
        self, frames: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``forward_frames``'s output -> embeddings, with ``forward``'s ``weights``."""
        return self.resnet.forward_embedding(frames, weights=weights)


# pyannote's classes, by the name its checkpoints store: block and blocks per layer.
_ARCHITECTURES: dict[str, tuple[_Block, tuple[int, int, int, int]]] = {
    "WeSpeakerResNet34": (_BasicBlock, (3, 4, 6, 3)),
    "WeSpeakerResNet152": (_Bottleneck, (3, 8, 36, 3)),
    "WeSpeakerResNet221": (_Bottleneck, (6, 16, 48, 3)),
    "WeSpeakerResNet293": (_Bottleneck, (10, 20, 64, 3)),
}

# The hyper-parameters those classes take. Lightning's load_from_checkpoint drops the other
# keys a checkpoint stores (round_to_power_of_two, snip_edges, fbank_centering_span), so
# pyannote always runs them at their defaults; so does build_embedding. num_channels, taken
# there too, changes nothing here (the filterbanks use the first channel).
_HYPER_PARAMETERS = (
    "sample_rate",
    "num_mel_bins",
    "frame_length",
    "frame_shift",
    "dither",
    "window_type",
    "use_energy",
)


def build_embedding(
    architecture: str,
    hyper_parameters: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
) -> WeSpeakerResNet:
    """The model of a pyannote checkpoint, in eval mode: ``architecture`` is
    ``checkpoint["pyannote.audio"]["architecture"]["class"]``, ``hyper_parameters`` is
    ``checkpoint["hyper_parameters"]``. ValueError for an architecture not ported here or
    a ``state_dict`` that does not fit it."""
    if architecture not in _ARCHITECTURES:
        known = ", ".join(_ARCHITECTURES)
        raise ValueError(f"no native embedding for {architecture!r} (only {known})")
    block, num_blocks = _ARCHITECTURES[architecture]
    kwargs = {key: hyper_parameters[key] for key in _HYPER_PARAMETERS if key in hyper_parameters}
    model = WeSpeakerResNet(block, num_blocks, **kwargs)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{architecture} checkpoint does not fit: {error}") from error
    return model.eval()
