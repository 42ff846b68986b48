"""Tune the built-in pipeline's uniform-window method (issue 16) on dev folders.

    python bench/diarization/windows_sweep.py DIR... --window 1.5 --hop 0.75 \\
        --pruning 0.2 0.3 [--exclude-overlap 0 1] [--keep-overlap 0 1] [--json OUT]

Segmentation runs once per file, window embeddings once per (window, hop, exclude-overlap);
clustering and frame labelling run again for each pruning and keep-overlap value. Prints,
per folder and choice, pooled DER at collar 0.25 with the count unknown and given, and how
many files got the right count. Dev folders only: the test sets are scored once, with
run.py, after a choice.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch
from pyannote.database.util import load_rttm
from run import read_wav
from sweep import row, summarise

from transcriber_cli.diarize import windows
from transcriber_cli.diarize.builtin import load_builtin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--window", nargs="+", type=float, default=[1.5])
    parser.add_argument("--hop", nargs="+", type=float, default=[0.75])
    parser.add_argument("--pruning", nargs="+", type=float, default=[windows.PRUNING])
    parser.add_argument("--exclude-overlap", nargs="+", type=int, default=[0])
    parser.add_argument("--keep-overlap", nargs="+", type=int, default=[1])
    parser.add_argument("--taper", nargs="+", type=int, default=[int(windows.TAPER)])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pipeline = load_builtin(device="cpu", batch_size=16, native=False)  # its setup_hook
    hook = pipeline.setup_hook({}, hook=None)
    results: dict = {}
    for folder in args.folders:
        files = []
        for wav in sorted(folder.glob("*.wav")):
            reference = next(iter(load_rttm(str(wav.with_suffix(".rttm"))).values()))
            audio = torch.from_numpy(read_wav(wav))[None]
            file = {"waveform": audio, "sample_rate": 16000, "uri": wav.stem}
            files.append((file, reference, pipeline.speech_count(file, hook)))
        for window, hop, exclude in itertools.product(args.window, args.hop, args.exclude_overlap):
            pipeline.window, pipeline.hop, pipeline.exclude_overlap = window, hop, bool(exclude)
            cpu = time.process_time()
            found = [pipeline.window_embeddings(f, count, hook) for f, _, count in files]
            cpu = time.process_time() - cpu
            grid = itertools.product(args.pruning, args.keep_overlap, args.taper)
            for value, keep, taper in grid:
                pipeline.pruning, pipeline.keep_overlap = value, bool(keep)
                pipeline.taper = bool(taper)
                rows = []
                for (file, reference, count), spans in zip(files, found):
                    n = len(reference.labels())
                    unknown = pipeline.assemble(spans, count, None, None, None, file["uri"])
                    given = pipeline.assemble(spans, count, n, None, None, file["uri"])
                    rows.append(row(file["uri"], reference, unknown.speaker_diarization,
                                    given.speaker_diarization))  # fmt: skip
                summary = {**summarise(rows), "embedding_cpu_s": cpu, "rows": rows}
                choice = (f"window={window} hop={hop} exclude_overlap={exclude} "
                          f"pruning={value} keep_overlap={keep} taper={taper}")  # fmt: skip
                results.setdefault(str(folder), {})[choice] = summary
                print(f"{folder.name} {choice}: right {summary['right']}/{len(rows)}, "
                      f"DER unknown {summary['unknown_der']:.1%}, "
                      f"given {summary['given_der']:.1%}; embed {cpu:.0f} s; "
                      f"{' '.join(summary['found'].values())}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
