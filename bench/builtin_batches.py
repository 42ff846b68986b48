"""The built-in speaker pipeline alone on one recording: batch sizes and how its speech
windows are cut, side by side in one process, interleaved (A B C A B C ...).

Variants are ``SEG:EMB[:loop]``: the segmentation's and the d-vectors' windows per batch,
and ``loop`` to cut each d-vector window with its own slice, pad and copy (the code of
``17926e9``, ``loop_cut`` below) instead of one gather per batch (``builtin_method.cut``). Per
call: wall seconds, the calling thread's CPU seconds (what it takes of the GIL that
transcription's threads share in a real run), the steps' seconds, the GPU's peak memory, and
whether the turns equal those of the first variant's first call.

    python bench/builtin_batches.py AUDIO --device cuda --variants 256:256:loop,256:256,256:1024 \\
        --repeats 3 --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def loop_cut(audio, starts, rate, size):  # the code of 17926e9: a slice, pad and copy each
    import torch

    pieces = [audio[round(s * rate) :][:size] for s in starts]
    pad = torch.nn.functional.pad
    return torch.stack([pad(p, (0, size - len(p))) for p in pieces])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("audio", type=Path)
    p.add_argument("--device", default="cuda")
    p.add_argument("--seconds", type=float, default=0.0, help="only the first SECONDS")
    p.add_argument("--variants", default="256:256:loop,256:256,256:1024")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    import torch

    from transcriber_cli.diarize import builtin_method
    from transcriber_cli.diarize.builtin import BuiltinDiarization, load_builtin
    from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer
    from transcriber_cli.media import decode_audio

    audio = decode_audio(args.audio)
    if args.seconds:
        audio = audio[: int(args.seconds * 16000)]
    pipeline = load_builtin(device=args.device, batch_size=256)
    assert isinstance(pipeline, BuiltinDiarization)
    gather = builtin_method.cut
    diarizer = PyannoteDiarizer(pipeline, name="builtin", device=args.device.split(":")[0],
                                half=True)  # fmt: skip
    cuda = args.device.startswith("cuda")
    variants = args.variants.split(",")
    result: dict = {"audio": str(args.audio), "seconds": len(audio) / 16000,
                    "device": args.device, "gpu": torch.cuda.get_device_name() if cuda else "",
                    "rows": []}  # fmt: skip
    reference = None

    def once(variant: str, repeat: int) -> None:
        nonlocal reference
        seg, emb, *rest = variant.split(":")
        pipeline.segmentation_batch_size = int(seg)
        pipeline.embedding_batch_size = int(emb)
        loop = bool(rest) and rest[0] == "loop"
        builtin_method.cut = loop_cut if loop else gather
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        steps: dict[str, float] = {}
        wall, cpu = time.perf_counter(), time.thread_time()
        turns = diarizer(audio, steps=steps)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        same = None
        key = [(round(t.start, 3), round(t.end, 3), t.speaker) for t in turns]
        if reference is None:
            reference = key
        else:
            same = key == reference
        row = {"variant": variant, "repeat": repeat, "wall_s": round(wall, 3),
               "thread_cpu_s": round(cpu, 3), "steps": steps, "turns": len(turns),
               "speakers": len({t.speaker for t in turns}), "same_turns": same,
               "peak_mib": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
               }  # fmt: skip
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps(result, indent=1))

    once(variants[0], 0)  # warm-up: kernels, cuDNN's choices
    for r in range(1, args.repeats + 1):
        for v in variants:
            once(v, r)
    summary = {}
    for v in variants:
        rows = [x for x in result["rows"] if x["variant"] == v and x["repeat"] > 0]
        summary[v] = {k: float(np.median([x[k] for x in rows])) for k in ("wall_s", "thread_cpu_s")}
        for step in ("segmentation", "embeddings"):
            summary[v][f"{step}_s"] = float(np.median([x["steps"].get(step, 0) for x in rows]))
    result["median"] = summary
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
