"""Long recordings in spans (issue 15): the built-in pipeline on whole files against the same
files cut into 2 and 3 equal spans whose speakers are linked (transcriber_cli/diarize/spans.py)
at several thresholds. DER (pyannote.metrics, collar 0.25) and the speaker count, count unknown.

    python bench/diarization/voices.py DATA/dev40 --set dev --turns 40   # 12 files, 1.5-2.6 min
    python bench/diarization/spans_sweep.py OUT.json DATA/dev40/*.wav
    python bench/diarization/voices.py DATA/test40 --set test --turns 40
    python bench/diarization/spans_sweep.py --thresholds 0.7 OUT.json DATA/test40/*.wav

Each span is one pipeline call, as ``PyannoteDiarizer`` makes it; the cuts here are the equal
ones (the CLI moves them into pauses), so boundary effects are if anything overstated.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from transcriber_cli.diarize import spans
from transcriber_cli.diarize.builtin import load_builtin
from transcriber_cli.diarize.pyannote_pipeline import (
    PyannoteDiarizer,
    _labels,
    _StepClock,
    turns_from_output,
)

THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
RATE = 16000


def load(path: str) -> np.ndarray:
    argv = ["ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"]
    return np.frombuffer(subprocess.run(argv, capture_output=True, check=True).stdout, np.float32)


def reference(path: str) -> Annotation:
    ref = Annotation()
    for line in Path(path).with_suffix(".rttm").read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            ref[Segment(float(f[3]), float(f[3]) + float(f[4]))] = f[7]
    return ref


def main() -> None:
    # --thresholds 0.7: score the chosen threshold only (the test set)
    args = sys.argv[1:]
    thresholds = THRESHOLDS
    if args[0] == "--thresholds":
        thresholds, args = [float(x) for x in args[1].split(",")], args[2:]
    out, paths = Path(args[0]), args[1:]
    diarizer = PyannoteDiarizer(load_builtin(device="cpu", batch_size=16), name="builtin",
                                device="cpu")  # fmt: skip
    rows = []
    for path in paths:
        audio, ref = load(path), reference(path)
        seconds = len(audio) / RATE
        for n in (1, 2, 3):
            local: list[spans.LocalSpeaker] = []
            turns = []
            for k in range(n):
                a, b = seconds * k / n, seconds * (k + 1) / n
                piece = audio[int(a * RATE) : int(b * RATE)]
                output = diarizer._call(piece, {}, None, 0, 0, _StepClock())
                found = turns_from_output(output, duration=b - a)
                index = {}
                for j, label in enumerate(_labels(output)):
                    index[label] = len(local)
                    talk = sum(t.end - t.start for t in found if t.speaker == label)
                    vector = np.asarray(output.speaker_embeddings[j], float)
                    local.append(spans.LocalSpeaker(k, label, vector, talk))
                turns += [(t.start + a, t.end + a, index[t.speaker]) for t in found]
            for threshold in thresholds if n > 1 else [None]:
                group = spans.link(local, threshold=threshold) if threshold else range(len(local))
                group = list(group)
                hyp = Annotation()
                for s, e, i in turns:
                    hyp[Segment(s, e)] = group[i]
                # n: spans; ref: the reference's speaker count; local: speakers of all spans
                rows.append({"file": Path(path).name, "n": n, "threshold": threshold,
                             "der": DiarizationErrorRate(collar=0.25)(ref, hyp),
                             "count": len(hyp.labels()), "ref": len(ref.labels()),
                             "local": len(local)})  # fmt: skip
                print(rows[-1], flush=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
