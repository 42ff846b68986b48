"""pyannote.audio 4 on the image's torch: a community-1-sized random-weight pipeline, CPU vs GPU.

usage: pyannote_probe.py OUT.json  (runs from the folder holding random_pipeline.py)
Audio: pyannote's own sample.wav (30 s, two speakers) repeated to the lengths below.
"""

import json
import os
import subprocess
import sys
import time
import wave
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def audio(minutes):
    import numpy as np
    import pyannote.audio

    wav = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"
    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    one = pcm.astype(np.float32) / 32768.0
    reps = int(np.ceil(minutes * 60 * 16000 / one.size))
    return np.tile(one, reps)[: int(minutes * 60 * 16000)]


def run(device, minutes, pipe_dir):
    import torch
    from pyannote.audio import Pipeline

    if device == "cpu":
        torch.set_num_threads(os.cpu_count())
    t0 = time.perf_counter()
    p = Pipeline.from_pretrained(pipe_dir)
    p.to(torch.device(device))
    load = time.perf_counter() - t0
    x = torch.from_numpy(audio(minutes))[None]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = p({"waveform": x, "sample_rate": 16000})
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    ann = out.exclusive_speaker_diarization
    return {
        "device": device,
        "minutes": minutes,
        "load_s": round(load, 2),
        "run_s": round(dt, 2),
        "rtf": round(dt / (minutes * 60), 5),
        "turns": len(list(ann.itertracks())),
        "speakers": len(ann.labels()),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20)
        if device == "cuda"
        else None,
    }


if __name__ == "__main__":
    if sys.argv[1] == "one":  # child: one measurement, printed as JSON
        print("RESULT " + json.dumps(run(sys.argv[2], float(sys.argv[3]), sys.argv[4])), flush=True)
        sys.exit()
    import torch
    from random_pipeline import build_random_pipeline

    pipe = "/tmp/pipe_community"
    t0 = time.perf_counter()
    build_random_pipeline(Path(pipe), size="community")
    print("built pipeline in", round(time.perf_counter() - t0, 1), "s", flush=True)
    results = [
        {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        }
    ]
    for device, minutes, limit in [("cuda", 5, 200), ("cpu", 5, 200)]:
        try:
            p = subprocess.run(
                [sys.executable, __file__, "one", device, str(minutes), pipe],
                capture_output=True,
                text=True,
                timeout=limit,
            )
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            r = (
                json.loads(line[0][7:])
                if line
                else {"device": device, "minutes": minutes, "error": p.stderr[-1500:]}
            )
        except subprocess.TimeoutExpired:
            r = {"device": device, "minutes": minutes, "error": f"over {limit} s"}
        print(json.dumps(r), flush=True)
        results.append(r)
    Path(sys.argv[1]).write_text(json.dumps(results, indent=1))
