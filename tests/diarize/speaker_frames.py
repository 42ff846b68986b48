"""0/1 speaker frames as a diarization's reconstruction gives them, generated: runs of 1 to
600 frames, gaps, some overlap. Also importable from ``bench/frames_to_turns.py``."""

from __future__ import annotations

import numpy as np


def speaker_frames(count: int, speakers: int, seed: int = 0) -> np.ndarray:
    """(count, speakers) int8 frames."""
    rng = np.random.default_rng(seed)
    data = np.zeros((count, speakers), dtype=np.int8)
    t = 0
    while t < count:
        length, who = int(rng.integers(1, 600)), int(rng.integers(0, speakers))
        data[t : t + length, who] = 1
        if rng.random() < 0.2:
            data[t : t + max(1, length // 3), (who + 1) % speakers] = 1
        t += length + int(rng.integers(0, 100))
    return data
