"""Resemblyzer's GE2E d-vector speaker encoder (Apache-2.0), re-implemented in torch.

The network (3-layer LSTM 40→256, linear 256→256, ReLU, L2 norm) and its input (a 40-band
power mel spectrogram, 25 ms windows every 10 ms, as librosa computes it) follow
resemblyzer 0.1.4; ``bench/diarization/check_dvector.py`` checks both against the original.
Here it is computed with torchaudio, so neither librosa/numba nor webrtcvad are needed.

``DVectorEmbedding`` is what the built-in pipeline calls for each batch of speech windows
(and pyannote's ``SpeakerDiarization`` for each (chunk, local speaker) in the bench's "tracks"
method): a waveform batch and frame masks in, one embedding per row out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s: the utterance length the encoder was trained on
PARTIAL_STEP = 160  # side by side: overlapping partials (resemblyzer's 0.77 s) cost 2x
BUCKET = 20
MIN_FRAMES = 40  # less speech than 0.4 s gives no embedding (NaN, left out of clustering)
TARGET_DBFS = -30.0  # resemblyzer raises quieter speech to this level (never lowers it)


class VoiceEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 40) mels → (batch, 256) unit embeddings from the last hidden state.
        (Rows of unequal length run as separate batches: packed sequences were 5x slower.)"""
        _, (hidden, _) = self.lstm(mels)
        raw = self.relu(self.linear(hidden[-1]))
        return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-8)


class MelSpectrogram(nn.Module):
    """librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40):
    Slaney mel scale and norm, power 2, centred frames with zero padding."""

    def __init__(self) -> None:
        super().__init__()
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE,
            n_fft=400,
            hop_length=HOP,
            n_mels=40,
            mel_scale="slaney",
            norm="slaney",
            center=True,
            pad_mode="constant",
            power=2.0,
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """(..., samples) → (..., frames, 40)"""
        return self.mel(wav).transpose(-1, -2)


def load_encoder(path: Path) -> VoiceEncoder:
    encoder = VoiceEncoder()
    encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return encoder.eval()


def normalize_volume(wav: torch.Tensor, speech: torch.Tensor) -> torch.Tensor:
    """Raise each row to TARGET_DBFS (measured on its speech samples), as resemblyzer's
    ``normalize_volume(increase_only=True)``: the mel is not logged, so level matters."""
    power = (wav**2 * speech).sum(-1) / speech.sum(-1).clamp_min(1.0)
    dbfs = 10 * torch.log10(power.clamp_min(1e-10))
    gain_db = (TARGET_DBFS - dbfs).clamp_min(0.0)
    return wav * (10 ** (gain_db / 20))[..., None]


def partials(frames: int) -> list[tuple[int, int]]:
    """1.6 s windows every PARTIAL_STEP over ``frames`` speech frames, the last one ending at
    the end; when there is less, one window of a multiple of BUCKET frames (windows of one
    length run as one batch, and most chunks hold few lengths), none below MIN_FRAMES."""
    if frames < MIN_FRAMES:
        return []
    if frames < PARTIAL_FRAMES:
        return [(0, frames - frames % BUCKET)]
    starts = list(range(0, frames - PARTIAL_FRAMES + 1, PARTIAL_STEP))
    if starts[-1] + PARTIAL_FRAMES < frames:
        starts.append(frames - PARTIAL_FRAMES)
    return [(s, s + PARTIAL_FRAMES) for s in starts]


class DVectorEmbedding:
    """The embedding interface pyannote's SpeakerDiarization uses (``sample_rate``,
    ``dimension``, ``metric``, ``min_num_samples``, ``__call__(waveforms, masks)``)."""

    sample_rate = SAMPLE_RATE
    dimension = 256
    metric = "cosine"
    min_num_samples = MIN_FRAMES * HOP

    def __init__(self, path: Path) -> None:
        self.model_ = load_encoder(path)
        self.mel = MelSpectrogram()
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> DVectorEmbedding:
        self.model_.to(device)
        self.mel.to(device)
        self.device = device
        return self

    @torch.inference_mode()
    def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> np.ndarray:
        """(batch, 1, samples) and (batch, mask frames) → (batch, 256); NaN rows where a
        speaker talks for less than MIN_FRAMES."""
        wav = waveforms[:, 0].to(self.device, torch.float32)
        batch, samples = wav.shape
        if masks is None:
            masks = torch.ones(batch, 1)
        # the segmentation frames are coarser than the mel's: nearest frame, per sample
        speech = nn.functional.interpolate(masks[:, None].float(), size=samples, mode="nearest")
        speech = (speech[:, 0] > 0.5).float().to(self.device)
        mels = self.mel(normalize_volume(wav, speech))
        centres = (torch.arange(mels.shape[1], device=self.device) * HOP).clamp_max(samples - 1)
        keep = speech[:, centres] > 0.5  # mel frame i is centred on sample i * HOP
        # Each row's speech frames, as indices found on the host in one transfer: a boolean
        # index per row on a GPU waits for the device once per row (32 times a batch, beside
        # transcription). Same windows, same groups in the same order, so the same numbers.
        kept = keep.cpu().numpy()
        groups: dict[int, tuple[list[int], list[np.ndarray]]] = {}  # by length: one LSTM batch
        for b in range(batch):
            frames = np.flatnonzero(kept[b])
            for start, end in partials(len(frames)):
                owners, rows = groups.setdefault(end - start, ([], []))
                owners.append(b)
                rows.append(frames[start:end])
        sums = torch.zeros(batch, self.dimension, device=self.device)
        for owners, rows in groups.values():
            who = torch.tensor(owners, device=self.device)
            index = torch.from_numpy(np.stack(rows)).to(self.device)
            embeds = self.model_(mels[who[:, None], index])
            sums.index_add_(0, who, embeds)
        out = nn.functional.normalize(sums, dim=1).float().cpu().numpy()
        out[~(sums.norm(dim=1) > 0).cpu().numpy()] = np.nan
        return out

    def embed_utterance(self, wav: np.ndarray) -> np.ndarray:
        """One embedding for a whole (already preprocessed) utterance, the way resemblyzer's
        ``VoiceEncoder.embed_utterance`` computes it: kept for the numerical check."""
        n_frames = math.ceil((len(wav) + 1) / HOP)
        frame_step = round(SAMPLE_RATE / 1.3 / HOP)
        steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
        slices = [(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
        coverage = (len(wav) - slices[-1][0] * HOP) / (PARTIAL_FRAMES * HOP)
        if coverage < 0.75 and len(slices) > 1:
            slices = slices[:-1]
        wav = np.pad(wav, (0, max(0, slices[-1][1] * HOP - len(wav))))
        with torch.inference_mode():
            mel = self.mel(torch.from_numpy(wav.astype(np.float32)).to(self.device))
            mels = torch.stack([mel[s:e] for s, e in slices])
            partial = self.model_(mels).cpu().numpy()
        mean = partial.mean(0)
        return mean / np.linalg.norm(mean)
