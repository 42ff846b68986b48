"""How often the segmentation model gives two reference speakers to one local speaker.

    python bench/diarization/merged_tracks.py FILE.wav [FILE.wav...]   # NAME.rttm beside each

Runs the built-in pipeline once per file and reads its cached segmentation (5 s windows, up
to 3 local speakers each, binarised at the pipeline's threshold). A (window, local speaker)
track with at least 0.5 s of activity is "merged" when more than 20 % of its frames where one
reference speaker talks alone belong to a second reference speaker. The embedding of such a
track mixes two voices, so no clustering can put it right.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from pyannote.database.util import load_rttm
from run import read_wav

from transcriber_cli.diarize.builtin import load_builtin

MIN_ACTIVE = 0.5  # seconds of activity for a track to count
SECOND_SHARE = 0.2  # a second speaker's share above which a track is merged


def merged(pipeline, wav: Path) -> tuple[int, int]:
    reference = next(iter(load_rttm(str(wav.with_suffix(".rttm"))).values()))
    audio = torch.from_numpy(read_wav(wav))[None]
    file = {"waveform": audio, "sample_rate": 16000, "uri": wav.stem}
    pipeline(file)
    seg = file["training_cache/segmentation"]
    threshold = pipeline.segmentation.threshold
    frames = seg.data.shape[1]
    count = tracks = 0
    for c in range(seg.data.shape[0]):
        window = seg.sliding_window[c]
        step = window.duration / frames
        times = window.start + (np.arange(frames) + 0.5) * step
        talking = np.array([
            [any(s.start <= t < s.end for s in reference.label_timeline(label)) for t in times]
            for label in reference.labels()
        ])  # fmt: skip
        alone = talking & (talking.sum(0) == 1)
        for k in range(seg.data.shape[2]):
            active = seg.data[c, :, k] > threshold
            if active.sum() * step < MIN_ACTIVE:
                continue
            share = alone[:, active].sum(1) / max(1, alone[:, active].sum())
            tracks += 1
            count += len(share) > 1 and np.sort(share)[-2] > SECOND_SHARE
    return count, tracks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    pipeline = load_builtin(device="cpu", batch_size=16, native=False)
    pipeline.training = True  # keeps the segmentation in the file dict
    for wav in args.files:
        count, tracks = merged(pipeline, wav)
        print(f"{wav.stem}: {count}/{tracks} local-speaker tracks hold two speakers")


if __name__ == "__main__":
    main()
