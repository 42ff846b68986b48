"""Float16 speaker embeddings on trained weights: do they change any speaker label?

The built-in pipeline (real pyannote/segmentation v2 + Resemblyzer's trained d-vector
encoder) is the one pipeline with trained embedding weights that runs offline, so it is where
`diarization_precision = "float16"` can be checked (issue 14 asks for exactly this). Through
our own `PyannoteDiarizer` (the code a run uses), per file:

- float32, float16 (autocast on the embedding model only, as `diarization_precision` does),
  and float32 on the same audio plus white noise at -80 dBFS: the **noise floor**, what a
  change too small to hear does to the labels;
- DER of float16 against float32 and of the noisy run against float32 (collar 0: every
  frame counts), pooled over all files; and each precision's DER against the reference turns
  (collar 0.25), count unknown and given;
- seconds of each (CUDA synchronised).

    python bench/diarization/half.py DIR [DIR...] --out half.json   # a GPU (CPU: plumbing only)

DIRs hold NAME.wav (16 kHz mono) + NAME.rttm: bench/diarization/voices.py and synth.py sets,
and pyannote's sample. The JSON is rewritten after every file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from pyannote.core import Annotation, Segment
from pyannote.database.util import load_rttm
from pyannote.metrics.diarization import DiarizationErrorRate

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from run import read_wav

from transcriber_cli.diarize.builtin import load_builtin
from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer
from transcriber_cli.options import SpeakerOptions

NOISE_DBFS = -80.0


def annotation(turns) -> Annotation:
    out = Annotation()
    for t in turns:
        out[Segment(t.start, t.end)] = t.speaker
    return out


def parts(reference: Annotation, hypothesis: Annotation, collar: float) -> dict:
    d = DiarizationErrorRate(collar=collar)(reference, hypothesis, detailed=True)
    return {k: d[k] for k in ("total", "confusion", "missed detection", "false alarm")}


def rate(items: list[dict]) -> float | None:
    total = sum(p["total"] for p in items)
    errors = sum(p["confusion"] + p["missed detection"] + p["false alarm"] for p in items)
    return round(errors / total, 5) if total else None


def timed(diarizer: PyannoteDiarizer, audio: np.ndarray, speakers: SpeakerOptions, device: str):
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    turns = diarizer(audio, speakers=speakers)
    if device == "cuda":
        torch.cuda.synchronize()
    return turns, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*'uem' was approximated.*")
    pipeline = load_builtin(device=args.device, batch_size=32 if args.device == "cuda" else 16)
    diarizer = PyannoteDiarizer(pipeline, name="builtin", device=args.device, half=True)
    half_ok = diarizer.half  # False on a CPU: then both rows are float32 (a dry run)
    rng = np.random.default_rng(0)
    rows: list[dict] = []
    # a warm-up, so the first file's times are not the CUDA context's
    timed(diarizer, read_wav(sorted(args.folders[0].glob("*.wav"))[0]), SpeakerOptions(),
          args.device)  # fmt: skip
    for folder in args.folders:
        for wav in sorted(folder.glob("*.wav")):
            truth = next(iter(load_rttm(str(wav.with_suffix(".rttm"))).values()))
            audio = read_wav(wav)
            noisy = audio + rng.normal(0, 10 ** (NOISE_DBFS / 20), audio.size).astype(np.float32)
            row: dict = {"set": folder.name, "file": wav.stem, "seconds": audio.size / 16000,
                         "speakers": len(truth.labels())}  # fmt: skip
            given = SpeakerOptions(num_speakers=row["speakers"])
            for mode, speakers in (("unknown", SpeakerOptions()), ("given", given)):
                diarizer.half = False
                t32, s32 = timed(diarizer, audio, speakers, args.device)
                tnoise, _ = timed(diarizer, noisy, speakers, args.device)
                diarizer.half = half_ok
                t16, s16 = timed(diarizer, audio, speakers, args.device)
                a32, a16, anoise = annotation(t32), annotation(t16), annotation(tnoise)
                row[mode] = {
                    "s32": round(s32, 3),
                    "s16": round(s16, 3),
                    "found32": len(a32.labels()),
                    "found16": len(a16.labels()),
                    "half_vs_32": parts(a32, a16, 0.0),
                    "noise_vs_32": parts(a32, anoise, 0.0),
                    "truth32": parts(truth, a32, 0.25),
                    "truth16": parts(truth, a16, 0.25),
                }
            rows.append(row)
            print(json.dumps({"file": row["file"],
                              **{m: {k: row[m][k] for k in ("found32", "found16")}
                                 for m in ("unknown", "given")},
                              "half_vs_32": rate([row["unknown"]["half_vs_32"]]),
                              "noise_vs_32": rate([row["unknown"]["noise_vs_32"]])}),
                  flush=True)  # fmt: skip
            summary = {
                mode: {
                    key: rate([r[mode][key] for r in rows])
                    for key in ("half_vs_32", "noise_vs_32", "truth32", "truth16")
                }
                | {
                    "same_count": sum(r[mode]["found32"] == r[mode]["found16"] for r in rows),
                    "s32": round(sum(r[mode]["s32"] for r in rows), 2),
                    "s16": round(sum(r[mode]["s16"] for r in rows), 2),
                }
                for mode in ("unknown", "given")
            }
            args.out.write_text(json.dumps({
                "device": args.device, "half": half_ok, "noise_dbfs": NOISE_DBFS,
                "torch": torch.__version__, "files": len(rows), "audio_s": round(
                    sum(r["seconds"] for r in rows), 1),
                "summary": summary, "rows": rows}, indent=1))  # fmt: skip
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
