"""Try values of the clustering's neighbour pruning (``spectral.PRUNING``) and of the
segmentation threshold on dev folders, for the built-in pipeline's per-track method.

    python bench/diarization/sweep.py DIR... --pruning 0.2 0.3 [--threshold 0.5] [--json OUT]

Segmentation is computed once per file and embeddings once per threshold (pyannote keeps
them in the file dict in training mode); only the clustering runs again for each pruning
value, so a pruning sweep costs about one scoring run, each threshold about one more.
Prints, per folder and choice, the pooled DER at collar 0.25 with the count unknown and
given, and how many files got the right count. Dev folders only: the test
sets are scored once, with run.py, after a choice.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from pyannote.database.util import load_rttm
from pyannote.metrics.diarization import DiarizationErrorRate
from run import read_wav

from transcriber_cli.diarize import spectral
from transcriber_cli.diarize.builtin import PARAMETERS, load_builtin


def errors(reference, hyp) -> tuple[float, float]:
    d = DiarizationErrorRate(collar=0.25)(reference, hyp, detailed=True)
    return d["confusion"] + d["missed detection"] + d["false alarm"], d["total"]


def row(uri: str, reference, unknown, given) -> dict:
    """One file's scores: count unknown and count given against its reference turns."""
    n = len(reference.labels())
    return {"file": uri, "speakers": n, "found": len(unknown.labels()),
            "unknown": errors(reference, unknown), "given": errors(reference, given)}  # fmt: skip


def summarise(rows: list[dict]) -> dict:
    """A set's pooled scores: right counts, DER (errors over the set's speech), counts found."""
    total = sum(r["unknown"][1] for r in rows)
    return {
        "right": sum(r["found"] == r["speakers"] for r in rows),
        "files": len(rows),
        "unknown_der": sum(r["unknown"][0] for r in rows) / total,
        "given_der": sum(r["given"][0] for r in rows) / total,
        "found": {r["file"]: f"{r['found']}/{r['speakers']}" for r in rows},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--pruning", nargs="+", type=float, required=True)
    parser.add_argument("--threshold", nargs="+", type=float, default=[0.5])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pipeline = load_builtin(device="cpu", batch_size=16, native=False)
    pipeline.method = "tracks"  # what PRUNING and the threshold tune (windows_sweep.py: the rest)
    pipeline.training = True  # keep segmentation and embeddings in each file dict
    results: dict = {}
    for folder in args.folders:
        files = []
        for wav in sorted(folder.glob("*.wav")):
            reference = next(iter(load_rttm(str(wav.with_suffix(".rttm"))).values()))
            audio = torch.from_numpy(read_wav(wav))[None]
            files.append(({"waveform": audio, "sample_rate": 16000, "uri": wav.stem}, reference))
        for threshold, value in [(t, p) for t in args.threshold for p in args.pruning]:
            pipeline.instantiate({**PARAMETERS, "segmentation": {
                **PARAMETERS["segmentation"], "threshold": threshold}})  # fmt: skip
            spectral.PRUNING = value
            rows = []
            for file, reference in files:
                n = len(reference.labels())
                unknown = pipeline(file).speaker_diarization
                given = pipeline(file, num_speakers=n).speaker_diarization
                rows.append(row(file["uri"], reference, unknown, given))
            summary = summarise(rows)
            choice = f"threshold={threshold} pruning={value}"
            results.setdefault(str(folder), {})[choice] = summary
            print(f"{folder.name} {choice}: right {summary['right']}/{len(rows)}, "
                  f"DER unknown {summary['unknown_der']:.1%}, given {summary['given_der']:.1%}; "
                  f"{' '.join(summary['found'].values())}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
