"""pyannote probe: diarization time of a community-1-sized pipeline on the GPU and on the CPU.

The pipeline has community-1's architectures and random weights (see common.random_pipeline):
its timings are the real pipeline's cost, its speaker labels mean nothing. The audio is
pyannote's own sample.wav (30 s, two speakers) repeated to --minutes. Each device runs in a
fresh process with a time limit; the CPU one uses every core (torch.set_num_threads).
The results JSON is rewritten after each device, so a run cut short keeps what it measured.

    python3 bench/pyannote_probe.py --out $OUT/pyannote.json   # GPU machine: device.py run pyannote
    python bench/pyannote_probe.py --devices cpu --minutes 1 --out /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

from common import make_parser, random_pipeline, run_json_child, write_json


def audio(minutes: float):
    import numpy as np
    import pyannote.audio

    wav = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"
    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    one = pcm.astype(np.float32) / 32768.0
    n = int(minutes * 60 * 16000)
    return np.tile(one, -(-n // one.size))[:n]


def measure(device: str, minutes: float, pipe_dir: str) -> dict:
    """In this process: load the pipeline, diarize, report."""
    import torch
    from pyannote.audio import Pipeline

    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    pipe = Pipeline.from_pretrained(pipe_dir)
    pipe.to(torch.device(device))
    load = time.perf_counter() - t0
    x = torch.from_numpy(audio(minutes))[None]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = pipe({"waveform": x, "sample_rate": 16000})
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    ann = out.exclusive_speaker_diarization
    return {
        "device": device,
        "minutes": minutes,
        "load_s": round(load, 2),
        "run_s": round(seconds, 2),
        "rtf": round(seconds / (minutes * 60), 5),
        "turns": len(list(ann.itertracks())),
        "speakers": len(ann.labels()),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20)
        if device == "cuda"
        else None,
    }


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--devices", default="cuda,cpu", help="comma list, run in this order")
    parser.add_argument("--minutes", type=float, default=5.0, help="audio length")
    parser.add_argument("--timeout", type=float, default=200, help="seconds allowed per device")
    parser.add_argument(
        "--pipeline",
        type=Path,
        help="pipeline folder; built there with random weights when it has no config.yaml "
        "(default: a temp dir)",
    )
    parser.add_argument("--out", type=Path, required=True, help="results JSON")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one device here
    args = parser.parse_args()
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

    if args.one:
        print(json.dumps(measure(args.one, args.minutes, str(args.pipeline))))
        return

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pipe = random_pipeline(args.pipeline or Path(tmp) / "community")
        print(f"pipeline {pipe} ready in {time.perf_counter() - t0:.1f} s", flush=True)
        results: list[dict] = [
            {
                "torch": torch.__version__,
                "cuda": torch.version.cuda,
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            }
        ]
        for device in args.devices.split(","):
            argv = [sys.executable, __file__, "--one", device, "--pipeline", str(pipe)]
            r = {"device": device, "minutes": args.minutes}
            r |= run_json_child([*argv, "--minutes", str(args.minutes)], timeout=args.timeout)
            print(json.dumps(r), flush=True)
            results.append(r)
            write_json(args.out, results)


if __name__ == "__main__":
    main()
