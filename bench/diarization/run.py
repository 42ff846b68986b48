"""Score the built-in speaker pipeline on a folder of NAME.wav + NAME.rttm files.

    python bench/diarization/run.py DIR [DIR...] [--device cpu|cuda] [--json OUT]
        [--method windows|tracks]

``--method tracks`` scores the method before issue 16 (one embedding per chunk and local
speaker) with everything else as shipped.

Per file, count unknown and count given: DER (pyannote.metrics) at collar 0.25 and 0,
speakers found, CPU seconds per audio minute (process time, all threads) and wall time;
the peak resident memory of the process at the end. Prints a markdown table per folder.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import wave
from pathlib import Path

import numpy as np
import torch
from pyannote.database.util import load_rttm
from pyannote.metrics.diarization import DiarizationErrorRate

from transcriber_cli.diarize.builtin import load_builtin


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768


def score(pipeline, folder: Path, device: str) -> list[dict]:
    rows = []
    for wav in sorted(folder.glob("*.wav")):
        reference = next(iter(load_rttm(str(wav.with_suffix(".rttm"))).values()))
        audio = read_wav(wav)
        file = {"waveform": torch.from_numpy(audio)[None], "sample_rate": 16000, "uri": wav.stem}
        row = {"file": wav.stem, "minutes": len(audio) / 16000 / 60,
               "speakers": len(reference.labels())}  # fmt: skip
        # Training mode keeps the segmentation and embeddings in ``file`` between the two
        # calls, so the count-given run only redoes clustering (its CPU time is not reported).
        pipeline.training = True
        for mode, kwargs in (("unknown", {}), ("given", {"num_speakers": row["speakers"]})):
            if device == "cuda":
                torch.cuda.synchronize()
            cpu, wall = time.process_time(), time.perf_counter()
            hyp = pipeline(file, **kwargs).speaker_diarization
            if device == "cuda":
                torch.cuda.synchronize()
            row[f"{mode}_cpu_s"] = time.process_time() - cpu
            row[f"{mode}_wall_s"] = time.perf_counter() - wall
            row[f"{mode}_found"] = len(hyp.labels())
            for collar in (0.25, 0.0):
                metric = DiarizationErrorRate(collar=collar)
                d = metric(reference, hyp, detailed=True)
                row[f"{mode}_der_{collar}"] = d["diarization error rate"]
                row[f"{mode}_parts_{collar}"] = {k: d[k] for k in ("total", "confusion",
                    "missed detection", "false alarm")}  # fmt: skip
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if "parts" not in k}), flush=True)
    return rows


def pooled(rows: list[dict], key: str) -> float:
    parts = [r[key.replace("der", "parts")] for r in rows]
    errors = sum(p["confusion"] + p["missed detection"] + p["false alarm"] for p in parts)
    return errors / sum(p["total"] for p in parts)


def table(name: str, rows: list[dict]) -> str:
    lines = [f"### {name}", "",
             "| file | speakers | unknown: found | DER 0.25 | DER 0 | given: DER 0.25 | DER 0 "
             "| CPU s / audio min |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['speakers']} | {r['unknown_found']} "
            f"| {r['unknown_der_0.25']:.1%} | {r['unknown_der_0.0']:.1%} "
            f"| {r['given_der_0.25']:.1%} | {r['given_der_0.0']:.1%} "
            f"| {r['unknown_cpu_s'] / r['minutes']:.1f} |"
        )
    right = sum(r["unknown_found"] == r["speakers"] for r in rows)
    minutes = sum(r["minutes"] for r in rows)
    cpu = sum(r["unknown_cpu_s"] for r in rows)
    lines.append(
        f"| **pooled** | | **{right}/{len(rows)} right** "
        f"| **{pooled(rows, 'unknown_der_0.25'):.1%}** "
        f"| **{pooled(rows, 'unknown_der_0.0'):.1%}** | **{pooled(rows, 'given_der_0.25'):.1%}** "
        f"| **{pooled(rows, 'given_der_0.0'):.1%}** | **{cpu / minutes:.1f}** |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--method", choices=["windows", "tracks"])
    args = parser.parse_args()
    batch = 32 if args.device == "cuda" else 16
    # pyannote.audio's runtime: its training mode keeps the steps between calls (score())
    pipeline = load_builtin(device=args.device, batch_size=batch, native=False)
    if args.method:
        pipeline.method = args.method
    results = {str(f): score(pipeline, f, args.device) for f in args.folders}
    for folder, rows in results.items():
        print("\n" + table(Path(folder).name, rows))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak:.0f} MiB; torch threads: {torch.get_num_threads()}")
    if args.device == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
