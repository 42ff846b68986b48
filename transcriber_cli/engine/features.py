"""Whisper's log-Mel features on the GPU.

faster-whisper computes them with numpy on one CPU thread, every chunk before the first
batch: about 20 ms per 30 s chunk, 2-3 s for an hour, while the GPU waits. This is the same
formula (OpenAI Whisper's own torch version: periodic Hann window, reflect-padded STFT,
Slaney mel filters, log10 clamped to 8 below the peak) on torch's device, handed back as the
numpy array faster-whisper expects. The model keeps it as its ``feature_extractor``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor


class TorchFeatureExtractor(FeatureExtractor):
    def __init__(self, like: FeatureExtractor, device: str = "cuda") -> None:
        super().__init__(
            feature_size=like.mel_filters.shape[0],
            sampling_rate=like.sampling_rate,
            hop_length=like.hop_length,
            chunk_length=like.chunk_length,
            n_fft=like.n_fft,
        )
        self.device = device
        self._tensors: tuple[Any, Any] | None = None

    def _constants(self):
        import torch

        if self._tensors is None:
            window = torch.hann_window(self.n_fft, periodic=True, device=self.device)
            filters = torch.from_numpy(self.mel_filters).to(self.device)
            self._tensors = (window, filters)
        return self._tensors

    def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length=None):
        import torch

        if len(waveform) + padding <= self.n_fft // 2:
            # Too short for a reflect-padded STFT in torch (numpy returns one frame).
            return super().__call__(waveform, padding, chunk_length)
        if chunk_length is not None:
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        window, filters = self._constants()
        with torch.inference_mode():
            # A copy: the device needs one anyway, and a slice of the audio may be read-only.
            audio = torch.from_numpy(np.array(waveform, dtype=np.float32)).to(self.device)
            if padding:
                audio = torch.nn.functional.pad(audio, (0, padding))
            stft = torch.stft(audio, self.n_fft, self.hop_length, window=window,
                              center=True, pad_mode="reflect", return_complex=True)  # fmt: skip
            magnitudes = stft[..., :-1].abs() ** 2
            log_spec = torch.clamp(filters @ magnitudes, min=1e-10).log10()
            log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
            return ((log_spec + 4.0) / 4.0).cpu().numpy()


def warm_up(device: str) -> None:
    """One short STFT on ``device``: torch's first one there loads cuFFT (0.2 s of the first
    window's features in the hour's profile, bench/production.md), which the engine does
    on the thread that builds the torch encoder while CTranslate2 loads."""
    import torch

    with torch.inference_mode():
        audio = torch.zeros(16000, device=device)
        window = torch.hann_window(400, periodic=True, device=device)  # Whisper's n_fft, hop
        torch.stft(audio, 400, 160, window=window, center=True, pad_mode="reflect",
                   return_complex=True)  # fmt: skip
    torch.cuda.current_stream(device).synchronize()  # its errors here, not in a later call


def on_gpu(extractor: FeatureExtractor, index: int = 0) -> FeatureExtractor:
    """``extractor`` moved to the GPU when torch can use one (CTranslate2 and torch can
    disagree: a CPU-only torch beside a CUDA CTranslate2 keeps the numpy version)."""
    try:
        import torch

        if torch.cuda.is_available():
            return TorchFeatureExtractor(extractor, device=f"cuda:{index}")
    except Exception:  # a torch that cannot start CUDA: the CPU version works everywhere
        pass
    return extractor
