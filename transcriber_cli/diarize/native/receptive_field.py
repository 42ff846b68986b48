"""Frame arithmetic of stacked 1-D convolutions: how many frames come out of so many samples,
and which samples a frame sees. pyannote.audio 4.0.7's ``utils/receptive_field.py`` (MIT),
the same integer formulas, so frame timestamps match pyannote's to the bit."""

from __future__ import annotations

from collections.abc import Sequence


def conv1d_num_frames(
    num_samples: int, kernel_size: int = 5, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Frames out of one ``torch.nn.Conv1d`` (its documented output length)."""
    return 1 + (num_samples + 2 * padding - dilation * (kernel_size - 1) - 1) // stride


def conv1d_receptive_field_size(
    num_frames: int = 1, kernel_size: int = 5, stride: int = 1, padding: int = 0,
    dilation: int = 1,
) -> int:  # fmt: skip
    effective_kernel_size = 1 + (kernel_size - 1) * dilation
    return effective_kernel_size + (num_frames - 1) * stride - 2 * padding


def conv1d_receptive_field_center(
    frame: int = 0, kernel_size: int = 5, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    effective_kernel_size = 1 + (kernel_size - 1) * dilation
    return frame * stride + (effective_kernel_size - 1) // 2 - padding


class ConvStack:
    """A stack of 1-D convolutions (and poolings) given by kernel sizes and strides."""

    def __init__(
        self,
        kernel_size: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
    ) -> None:
        n = len(kernel_size)
        self.layers = list(
            zip(kernel_size, stride, padding or [0] * n, dilation or [1] * n, strict=True)
        )

    def num_frames(self, num_samples: int) -> int:
        frames = num_samples
        for k, s, p, d in self.layers:
            frames = conv1d_num_frames(frames, kernel_size=k, stride=s, padding=p, dilation=d)
        return frames

    def receptive_field_size(self, num_frames: int = 1) -> int:
        size = num_frames
        for k, s, p, d in reversed(self.layers):
            size = conv1d_receptive_field_size(size, kernel_size=k, stride=s, padding=p, dilation=d)
        return size

    def receptive_field_center(self, frame: int = 0) -> int:
        center = frame
        for k, s, p, d in reversed(self.layers):
            center = conv1d_receptive_field_center(
                center, kernel_size=k, stride=s, padding=p, dilation=d
            )
        return center
