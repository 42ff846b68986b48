"""Check our torch d-vector encoder against resemblyzer 0.1.4 itself, on real speech.

Run in a throwaway environment that has librosa (resemblyzer's mel) and the unpacked
resemblyzer wheel (see make_weights.py); webrtcvad is stubbed, its VAD is not used here:

    PYTHONPATH=.:/tmp/rz:/tmp/extra python bench/diarization/check_dvector.py
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))

from resemblyzer import VoiceEncoder, audio  # noqa: E402

from transcriber_cli.diarize.dvector import DVectorEmbedding  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[2] / "transcriber_cli/diarize/weights/dvector.pt"


def sample_speech() -> np.ndarray:
    import wave

    import pyannote.audio

    path = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768


def main() -> int:
    wav = audio.normalize_volume(sample_speech(), -30, increase_only=True)
    ours = DVectorEmbedding(WEIGHTS)
    theirs = VoiceEncoder("cpu", verbose=False)
    worst_mel, worst_cos = 0.0, 1.0
    for start in range(0, len(wav) - 48000, 40000):  # 3 s utterances over the 30 s sample
        piece = wav[start : start + 48000]
        ref_mel = audio.wav_to_mel_spectrogram(piece)
        mel = ours.mel(torch.from_numpy(piece)).numpy()
        worst_mel = max(worst_mel, float(np.abs(mel - ref_mel).max() / ref_mel.max()))
        a, b = ours.embed_utterance(piece), theirs.embed_utterance(piece)
        worst_cos = min(worst_cos, float(a @ b))
    print(f"mel: worst relative difference {worst_mel:.2e}; embeddings: worst cos {worst_cos:.6f}")
    return 0 if worst_mel < 1e-4 and worst_cos > 0.9999 else 1


if __name__ == "__main__":
    sys.exit(main())
