"""pyannote's speaker embeddings (one network pass per window and local speaker) against ours
(one pass per window, pooled per speaker: transcriber_cli/diarize/chunk_embeddings.py).

Side by side in one process, interleaved (A B A B ...), on the same binarized segmentation of
the same audio: community-1's shapes with random weights (tests/diarize/random_pipeline.py),
pyannote's real sample call tiled to --seconds. Reports seconds per run of each method, the
ratio of medians, and the largest difference between the two methods' embeddings; per
precision (float32, and float16 autocast on CUDA, the default there).

    python bench/window_embeddings.py --device cpu --seconds 120 --out OUT.json
    python bench/window_embeddings.py --device cuda --seconds 1800 --out OUT.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "diarize"))
sys.path.insert(0, str(REPO))


def sample_audio(seconds: float) -> np.ndarray:
    import wave

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec and spec.origin
    with wave.open(str(Path(spec.origin).parent / "sample" / "sample.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    one = pcm.astype(np.float32) / 32768.0
    return np.resize(one, int(seconds * 16000))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0, help="embedding batch (0: our auto)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch
    from pyannote.audio.pipelines import SpeakerDiarization
    from random_pipeline import build_random_pipeline

    from transcriber_cli.config import Settings
    from transcriber_cli.diarize.loader import load_diarizer

    audio = sample_audio(args.seconds)
    waveform = torch.from_numpy(audio)[None]
    file = {"waveform": waveform, "sample_rate": 16000, "uri": "tiled"}
    result: dict = {"device": args.device, "seconds": args.seconds, "rows": []}
    if args.device == "cuda":
        result["gpu"] = torch.cuda.get_device_name(0)
    result["torch"] = torch.__version__
    result["threads"] = torch.get_num_threads()
    precisions = ["float32", "float16"] if args.device == "cuda" else ["float32"]

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory() as tmp:
        directory = build_random_pipeline(Path(tmp) / "community", size="community")
        for precision in precisions:
            settings = Settings(
                diarize=True,
                diarization_model=str(directory),
                diarization_precision=precision,
                embedding_batch_size=args.batch,
                device=args.device,
            )
            diarizer, note = load_diarizer(settings, device=args.device)
            assert note is None and "get_embeddings" in vars(diarizer.pipeline)
            pipeline = diarizer.pipeline
            segmentations = pipeline.get_segmentations(file)  # powerset: already binary
            ours = pipeline.get_embeddings
            theirs = SpeakerDiarization.get_embeddings.__get__(pipeline)
            theirs(file, segmentations, exclude_overlap=True)  # warm-up (min_num_samples, cuDNN)
            times: dict[str, list[float]] = {"pyannote": [], "ours": []}
            outputs: dict[str, np.ndarray] = {}
            for _ in range(args.repeats):
                for name, method in (("pyannote", theirs), ("ours", ours)):
                    sync()
                    start = time.perf_counter()
                    outputs[name] = method(file, segmentations, exclude_overlap=True)
                    sync()
                    times[name].append(round(time.perf_counter() - start, 3))
            a, b = outputs["pyannote"], outputs["ours"]
            both = np.isfinite(a) & np.isfinite(b)
            row = {
                "precision": precision,
                "batch": pipeline.embedding_batch_size,
                "windows": int(segmentations.data.shape[0]),
                "local_speakers": int(segmentations.data.shape[2]),
                "pyannote_s": times["pyannote"],
                "ours_s": times["ours"],
                "speedup": round(
                    statistics.median(times["pyannote"]) / statistics.median(times["ours"]), 2
                ),
                "same_nan": bool((np.isfinite(a) == np.isfinite(b)).all()),
                "max_abs_diff": float(np.abs(a[both] - b[both]).max()) if both.any() else None,
                "max_abs_value": float(np.abs(a[both]).max()) if both.any() else None,
            }
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
            args.out.write_text(json.dumps(result, indent=1))
            del diarizer, pipeline


if __name__ == "__main__":
    main()
