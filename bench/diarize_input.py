"""Where the diarizer's input lives, and the speaker network's layout: side by side in one
process, interleaved, on community-1's shapes (random weights) and pyannote's sample tiled.

Variants of one pyannote pipeline call (float16 embeddings on CUDA, as shipped):
- ``cpu``: the waveform handed over in host memory. pyannote then cuts every 10 s window on
  the CPU (segmentation: ``unfold`` + a contiguous copy per batch; embeddings: ``crop`` +
  ``pad`` + ``vstack`` per batch) and copies each batch to the GPU: about ten times the
  recording crosses the bus per step, the windows overlapping by 9 s.
- ``gpu``: the waveform copied to the GPU once; the same code cuts the windows there.
- ``+benchmark``: cuDNN picks its convolution algorithms by trying them (fixed shapes).
- ``+cl``: the embedding network's weights in channels-last layout.

Reports seconds per call and per step (ours: runtime.stages' diarize_* names) and whether
each run's turns equal those of the first run (of the first variant given: ``cpu`` by default).

    python bench/diarize_input.py --seconds 3600 --repeats 3 --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "diarize"))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

VARIANTS = ("cpu", "gpu", "gpu+benchmark", "gpu+cl", "gpu+cl+benchmark")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of the script")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch
    from random_pipeline import build_random_pipeline
    from window_embeddings import sample_audio

    from transcriber_cli.config import Settings
    from transcriber_cli.diarize.loader import load_diarizer
    from transcriber_cli.diarize.pyannote_pipeline import _hook, _StepClock, turns_from_output

    variants = args.variants.split(",")
    cuda = args.device == "cuda"
    assert cuda or variants == ["cpu"], "the GPU variants need --device cuda"
    audio = sample_audio(args.seconds)
    host = torch.from_numpy(audio)[None]
    result: dict = {
        "gpu": torch.cuda.get_device_name(0) if cuda else None, "torch": torch.__version__,
        "seconds": args.seconds, "runs": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        directory = build_random_pipeline(Path(tmp) / "community", size="community")
        settings = Settings(diarize=True, diarization_model=str(directory), device=args.device)
        diarizer, note = load_diarizer(settings, device=args.device)
        assert note is None and diarizer.half == cuda, "float16 embeddings on CUDA, as shipped"
        pipeline = diarizer.pipeline
        network = pipeline._embedding.model_
        baseline = None

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize()

        def call(variant: str) -> dict:
            torch.backends.cudnn.benchmark = "benchmark" in variant
            layout = torch.channels_last if "+cl" in variant else torch.contiguous_format
            network.to(memory_format=layout)
            clock = _StepClock()
            sync()
            start = time.perf_counter()
            waveform = host.to(pipeline.device) if variant.startswith("gpu") else host
            file = {"waveform": waveform, "sample_rate": 16000, "uri": "tiled"}
            clock.start()
            output = pipeline(file, hook=_hook(None, args.seconds, 0.0, args.seconds, clock))
            clock.stop()
            sync()
            wall = time.perf_counter() - start
            found = turns_from_output(output, duration=args.seconds)
            turns = [(t.start, t.end, t.speaker) for t in found]
            return {"variant": variant, "wall_s": round(wall, 3), "steps": clock.seconds,
                    "turns": len(turns), "_turns": turns}  # fmt: skip

        for variant in variants:  # warm-up: cuDNN's autotuning, allocator, first kernels
            call(variant)
        for repeat in range(args.repeats):
            for variant in variants:
                row = call(variant)
                turns = row.pop("_turns")
                if baseline is None:
                    baseline = turns
                row["same_turns_as_first"] = turns == baseline
                row["repeat"] = repeat
                result["runs"].append(row)
                print(json.dumps(row), flush=True)
                args.out.write_text(json.dumps(result, indent=1))
    summary = {}
    for variant in variants:
        walls = [r["wall_s"] for r in result["runs"] if r["variant"] == variant]
        summary[variant] = {"median_s": statistics.median(walls), "runs": walls}
    first = summary[variants[0]]["median_s"]
    for variant in variants:
        summary[variant]["vs_first"] = round(first / summary[variant]["median_s"], 3)
    result["summary"] = summary
    print(json.dumps(summary), flush=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
