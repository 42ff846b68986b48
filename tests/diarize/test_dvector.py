"""The d-vector encoder's batch call: each row's speech frames gathered by index give the
same embeddings, bitwise, as cutting them row by row (the code before, kept here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transcriber_cli import media
from transcriber_cli.diarize import dvector


def row_by_row(encoder: dvector.DVectorEmbedding, waveforms, masks) -> np.ndarray:
    """``DVectorEmbedding.__call__`` as it was: a boolean index per row."""
    wav = waveforms[:, 0].to(encoder.device, torch.float32)
    batch, samples = wav.shape
    speech = torch.nn.functional.interpolate(masks[:, None].float(), size=samples, mode="nearest")
    speech = (speech[:, 0] > 0.5).float()
    mels = encoder.mel(dvector.normalize_volume(wav, speech))
    centres = (torch.arange(mels.shape[1]) * dvector.HOP).clamp_max(samples - 1)
    keep = speech[:, centres] > 0.5
    windows: dict[int, list[torch.Tensor]] = {}
    owners: dict[int, list[int]] = {}
    for b in range(batch):
        frames = mels[b][keep[b]]
        for start, end in dvector.partials(frames.shape[0]):
            windows.setdefault(end - start, []).append(frames[start:end])
            owners.setdefault(end - start, []).append(b)
    sums = torch.zeros(batch, encoder.dimension)
    for length, group in windows.items():
        sums.index_add_(0, torch.tensor(owners[length]), encoder.model_(torch.stack(group)))
    out = torch.nn.functional.normalize(sums, dim=1).numpy()
    out[~(sums.norm(dim=1) > 0).numpy()] = np.nan
    return out


@pytest.mark.parametrize("seconds", [1.5, 5.0])
def test_gathered_frames_give_the_row_by_row_embeddings(pyannote_sample: dict, seconds: float):
    from transcriber_cli.diarize.builtin_method import DVECTOR

    encoder = dvector.DVectorEmbedding(DVECTOR)
    audio = media.decode_audio(pyannote_sample["wav"])
    size = round(seconds * media.SAMPLE_RATE)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, audio.size - size, 24)
    waveforms = torch.from_numpy(np.stack([audio[s : s + size] for s in starts]))[:, None]
    frames = 88 if seconds == 1.5 else 293
    masks = torch.from_numpy(rng.random((24, frames)) < rng.random((24, 1)))  # 0-100 % speech
    masks[0] = True
    masks[1] = False  # no speech: a NaN row
    masks[2, :] = False
    masks[2, :10] = True  # too little speech: NaN as well
    with torch.inference_mode():
        expected = row_by_row(encoder, waveforms, masks)
    got = encoder(waveforms, masks)
    assert np.isnan(got[1]).all() and np.isnan(got[2]).all() and not np.isnan(got[0]).any()
    assert (~np.isnan(got).any(1)).sum() >= 15  # most rows embedded, several lengths
    assert np.array_equal(got, expected, equal_nan=True)
