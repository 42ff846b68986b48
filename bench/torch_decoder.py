"""CTranslate2's beam search against the torch one (transcriber_cli/engine/torch_decoder.py).

Both decode the same windows, encoded once, under faster-whisper's batched options (end-of-text
suppressed too, so every window decodes ``--max-new-tokens // 2`` tokens whatever it hears),
side by side in one process, in alternating order. Each row has its seconds, the tokens
decoded and, for torch, how many windows came out with CTranslate2's tokens and the largest
score difference; ``x2`` rows run a batch's calls two at a time (CTranslate2 on two replicas,
torch on two threads, each on its own CUDA stream).

    python3 bench/torch_decoder.py --model CT2DIR --device cuda --windows 64 \\
        --batches 16,32,64 --json $OUT/d.json
    python bench/torch_decoder.py --device cpu --windows 4 --batches 2,4 \\
        --max-new-tokens 40 --rounds 1 --json /tmp/d.json   # a dry run: tiny.en
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import make_parser, write_json
from generate_options import SR, batched_options, model_or_tiny, tone, without_pyav


def main() -> None:
    p = make_parser(__doc__)
    p.add_argument("--model", help="CTranslate2 model folder (default: the bundled tiny.en)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--compute-type", default=None)
    p.add_argument("--windows", type=int, default=64)
    p.add_argument("--batches", default="16,32,64")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--variants", default="ct2,torch", help="comma list of ct2, torch, graph")
    p.add_argument("--two", action="store_true", help="also two calls at a time")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        help="first: one torch call of this many windows (20 steps) under torch.profiler, its "
        "top GPU kernels printed and kept in the JSON",
    )
    p.add_argument(
        "--cudnn",
        action="store_true",
        help="leave torch's cuDNN attention on (the package turns it off)",
    )
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args()

    import numpy as np

    without_pyav()
    import torch
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

    from transcriber_cli.engine.torch_decoder import build_on

    model_dir = model_or_tiny(args.model)
    compute = args.compute_type or ("float16" if args.device == "cuda" else "float32")
    workers = 2 if args.two else 1
    t0 = time.perf_counter()
    wm = WhisperModel(model_dir, device=args.device, compute_type=compute, num_workers=workers)
    ct2_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoder = build_on(model_dir, device=args.device, compute_type=compute)
    torch_load = time.perf_counter() - t0
    if args.device == "cuda":  # as install_torch_decoder does (cuDNN's per-shape graphs)
        torch.backends.cuda.enable_cudnn_sdp(args.cudnn)
    tok = Tokenizer(wm.hf_tokenizer, wm.model.is_multilingual, task="transcribe",
                    language="en")  # fmt: skip
    audio = tone(args.windows)
    step = 30 * SR
    feats = np.stack([wm.feature_extractor(audio[i : i + step])[..., :-1]
                      for i in range(0, len(audio), step)]).astype("float32")  # fmt: skip
    prompt = wm.get_prompt(tok, [], without_timestamps=True)
    opts = batched_options(tok, len(prompt), args.beam_size, args.max_new_tokens)
    cuda = args.device == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    batches = [int(b) for b in args.batches.split(",")]
    encoded = {}
    for b in batches:
        encoded[b] = []
        for i in range(0, args.windows, b):
            encoded[b].append(wm.encode(feats[i : i + b]))
            sync()
    engines = {"ct2": wm.model.generate, "torch": decoder.generate}
    if "graph" in args.variants.split(","):  # bench/torch_decoder_graphs.py, a prototype
        from torch_decoder_graphs import GraphedTorchDecoder

        from transcriber_cli.engine.torch_decoder import decoder_dtype

        graphed = GraphedTorchDecoder.load(model_dir, device=decoder.device,
                                           dtype=decoder_dtype(args.device, compute))  # fmt: skip
        engines["graph"] = graphed.generate
    engines = {k: v for k, v in engines.items() if k in args.variants.split(",")}
    reference: dict[int, list] = {}

    def run(name: str, b: int, two: bool) -> tuple[float, int, list]:
        generate = engines[name]

        def one(enc: Any) -> list:
            return generate(enc, [prompt] * enc.shape[0], **opts)

        sync()
        start = time.perf_counter()
        if two:
            with ThreadPoolExecutor(2) as pool:
                parts = list(pool.map(one, encoded[b]))
        else:
            parts = [one(enc) for enc in encoded[b]]
        sync()
        seconds = time.perf_counter() - start
        rows = [r for part in parts for r in part]
        return seconds, sum(len(r.sequences_ids[0]) for r in rows), rows

    for name in engines:  # warm-up: kernels, cuBLAS handles, the allocators' caches
        run(name, batches[0], False)
    if "graph" in engines:
        print(f"graphs: {graphed.graphs}, capture error: {graphed.capture_error!r}", flush=True)
    profile: list[dict[str, Any]] = []
    if args.profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as profiler

        part = wm.encode(feats[: args.profile])
        short = {**opts, "max_length": len(prompt) + 40}
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profiler(activities=activities) as prof:
            decoder.generate(part, [prompt] * args.profile, **short)
            sync()
        key = "cuda_time_total" if cuda else "cpu_time_total"
        table = prof.key_averages().table(sort_by=key, row_limit=30)
        print(table, flush=True)
        for event in sorted(prof.key_averages(), key=lambda e: -getattr(e, key, 0))[:40]:
            profile.append({"name": event.key, "count": event.count,
                            "self_cpu_us": round(event.self_cpu_time_total, 1),
                            "device_us": round(getattr(event, key, 0), 1)})  # fmt: skip
    result: dict[str, Any] = {
        "model": model_dir, "device": args.device, "compute_type": compute,
        "windows": args.windows, "beam_size": args.beam_size,
        "max_new_tokens": args.max_new_tokens, "ct2_load_s": round(ct2_load, 2),
        "torch_load_s": round(torch_load, 2), "rows": [], "profile": profile,
        "graph_capture_error": graphed.capture_error if "graph" in engines else None,
    }  # fmt: skip
    if cuda:
        result["gpu"] = torch.cuda.get_device_name(0)
    variants = [(n, two) for two in ([False, True] if args.two else [False]) for n in engines]
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else list(reversed(variants))
        for b in batches:
            for name, two in order:
                if cuda:  # what torch's allocator keeps goes back to CTranslate2's calls
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                    base = torch.cuda.memory_allocated()
                s, tokens, rows = run(name, b, two)
                row: dict[str, Any] = {
                    "variant": name + (" x2" if two else ""), "batch": b, "round": r + 1,
                    "s": round(s, 3), "tokens": tokens,
                }  # fmt: skip
                if cuda and name in ("torch", "graph"):
                    row["torch_peak_gib"] = round(
                        (torch.cuda.max_memory_allocated() - base) / 2**30, 2
                    )
                if name == "ct2":
                    reference[b] = rows
                elif b in reference:
                    ref = reference[b]
                    row["same_windows"] = sum(
                        x.sequences_ids == y.sequences_ids for x, y in zip(ref, rows)
                    )
                    row["max_score_diff"] = round(
                        max(abs(x.scores[0] - y.scores[0]) for x, y in zip(ref, rows)), 5
                    )
                    row["max_no_speech_diff"] = round(
                        max(abs(x.no_speech_prob - y.no_speech_prob) for x, y in zip(ref, rows)), 5
                    )
                result["rows"].append(row)
                print(row, flush=True)
                write_json(args.json, result)


if __name__ == "__main__":
    sys.exit(main())
