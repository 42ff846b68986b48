"""Diarization cost on CPU: load time, diarization time and peak RSS per input.

Random-weight pipelines (common.random_pipeline) stand in for the gated
community-1 weights, which cannot be downloaded here. They measure what the pipeline costs
(the same architectures, window step and batch sizes), NOT its accuracy.

Inputs: the pyannote sample (a real 30 s two-speaker call) and a ~10-minute file made by
concatenating real speech (that call and the example conversation, alternately). Each case
runs in a fresh process so its peak RSS is its own.

    python bench/diarization.py                      # the default set, a few minutes on 2 CPUs
    python bench/diarization.py --cases community:sample,tiny:long --json

Writes bench/results/diarization.json (--out), rewritten after each case.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, make_parser, random_pipeline, run_json_child, write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CASES = ["tiny:sample", "tiny:long", "community:sample"]
LONG_SECONDS = 600.0


def _audio(name: str):
    import numpy as np
    import pyannote.audio

    from transcriber_cli import media

    sample = media.decode_audio(Path(pyannote.audio.__file__).parent / "sample" / "sample.wav")
    if name == "sample":
        return sample
    talk = media.decode_audio(ROOT / "examples" / "conversation.mp4")
    pieces, total = [], 0
    while total < LONG_SECONDS * media.SAMPLE_RATE:
        for piece in (sample, talk):
            pieces.append(piece)
            total += piece.size
    return np.concatenate(pieces)[: int(LONG_SECONDS * media.SAMPLE_RATE)]


def run_case(size: str, audio_name: str, pipelines: Path, batch: int) -> dict:
    """In this process: build (once) and load the pipeline, diarize, report."""
    from transcriber_cli.config import Settings
    from transcriber_cli.diarize.loader import load_diarizer

    directory = random_pipeline(pipelines / size, size=size)
    audio = _audio(audio_name)
    settings = Settings(diarize=True, diarization_model=str(directory), embedding_batch_size=batch)
    t0 = time.perf_counter()
    diarizer, _ = load_diarizer(settings, device="cpu")
    t1 = time.perf_counter()
    turns = diarizer(audio)
    t2 = time.perf_counter()
    seconds = audio.size / 16000
    return {
        "pipeline": size,
        "input": audio_name,
        "audio_s": round(seconds, 1),
        "load_s": round(t1 - t0, 2),
        "diarize_s": round(t2 - t1, 2),
        "x_realtime": round(seconds / (t2 - t1), 1),
        "turns": len(turns),
        "embedding_batch_size": batch,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help="comma list of SIZE:INPUT (sizes tiny|community, inputs sample|long)",
    )
    parser.add_argument("--batch", type=int, default=16, help="embedding batch size")
    parser.add_argument("--json", action="store_true", help="print the results JSON at the end")
    parser.add_argument("--out", type=Path, default=RESULTS / "diarization.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case here
    parser.add_argument("--pipelines", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

    if args.one:
        size, audio_name = args.one.split(":")
        print(json.dumps(run_case(size, audio_name, Path(args.pipelines), args.batch)))
        return

    import torch

    report: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "results": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            argv = [sys.executable, __file__, "--one", case, "--pipelines", tmp]
            r = run_json_child([*argv, "--batch", str(args.batch)])
            if "error" in r:
                sys.exit(f"{case} failed: {r['error']}")
            report["results"].append(r)
            write_json(args.out, report)
            if not args.json:
                print(
                    f"{r['pipeline']:9} {r['input']:6} {r['audio_s']:6.1f} s audio  "
                    f"load {r['load_s']:5.2f} s  diarize {r['diarize_s']:6.2f} s  "
                    f"({r['x_realtime']:5.1f}x real time)  peak RSS {r['peak_rss_mb']} MB",
                    flush=True,
                )
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
