"""pyannote's ``to_annotation`` (a Python step per frame and speaker) against ours (runs'
edges with numpy: transcriber_cli/diarize/binarize.py), side by side in one process,
interleaved, on generated 0/1 frames at community-1's frame rate (runs of 1-600 frames,
gaps, some overlap). Reports seconds per call of each, their ratio and whether the two
annotations are the same.

    python bench/frames_to_turns.py --hours 1 --speakers 4 --repeats 5 --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "diarize"))
sys.path.insert(0, str(REPO))

STEP, DURATION = 0.016875, 0.0619375  # community-1's segmentation frames (s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--speakers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from pyannote.audio.pipelines import SpeakerDiarization
    from pyannote.core import SlidingWindow, SlidingWindowFeature
    from speaker_frames import speaker_frames

    from transcriber_cli.diarize.binarize import to_annotation

    count = int(args.hours * 3600 / STEP)
    feature = SlidingWindowFeature(
        speaker_frames(count, args.speakers), SlidingWindow(start=0.0, duration=DURATION, step=STEP)
    )
    methods = {"pyannote": SpeakerDiarization.to_annotation, "ours": to_annotation}
    times: dict[str, list[float]] = {name: [] for name in methods}
    results = {}
    for _ in range(args.repeats):
        for name, method in methods.items():
            start = time.perf_counter()
            results[name] = method(feature, min_duration_on=0.0, min_duration_off=0.0)
            times[name].append(round(time.perf_counter() - start, 4))
    same = list(results["ours"].itertracks(yield_label=True)) == list(
        results["pyannote"].itertracks(yield_label=True)
    )
    out = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "frames": count,
        "speakers": args.speakers,
        "segments": len(results["ours"]),
        "seconds": times,
        "ratio_of_medians": round(
            statistics.median(times["pyannote"]) / statistics.median(times["ours"]), 1
        ),
        "same_annotation": same,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
