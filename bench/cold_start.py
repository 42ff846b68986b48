"""What a machine's first use of CTranslate2 costs, and whether the engine's warm-up pays it.

CTranslate2's PyPI wheel carries GPU code for sm_53 to sm_86 and PTX for 8.6 only (read from
its fatbin headers), so on an H100 or H200 (sm_90) the driver compiles every kernel it
launches from that PTX, then keeps the result in its cache (``CUDA_CACHE_PATH``, by default
``~/.nv/ComputeCache``). Point ``CUDA_CACHE_PATH`` at an empty folder and this process is a
fresh machine's first; at the same folder again, a later one. It loads the engine as
``transcribe`` does, runs ``WhisperEngine.warm_up`` twice and prints one JSON line: the load,
each warm-up's seconds and what the cache folder holds after it.

    CUDA_CACHE_PATH=/tmp/cc1 python3 bench/cold_start.py --model CT2DIR --out $OUT/cold.jsonl
    python bench/cold_start.py --device cpu --out /tmp/cold.jsonl   # a dry run: tiny.en
"""

from __future__ import annotations

import time
from pathlib import Path

from common import emit, make_parser

from transcriber_cli.engine.fatbin import cached_bytes, driver_cache


def main() -> None:
    p = make_parser(__doc__)
    p.add_argument("--model", default="tiny.en", help="model name or CTranslate2 folder")
    p.add_argument("--device", default="cuda")
    p.add_argument("--compute-type", default="auto")
    p.add_argument("--variant", default="", help="a label for the row")
    p.add_argument("--windows", type=int, default=1, help="the warm-up's 30 s windows")
    p.add_argument("--tokens", type=int, default=64, help="the warm-up's tokens a window")
    p.add_argument("--then", type=Path, help="then transcribe this file: what it still compiles")
    p.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = p.parse_args()
    cache = driver_cache()
    row: dict = {"variant": args.variant, "cache": str(cache), "cache_before": cached_bytes(cache)}
    started = time.perf_counter()
    from transcriber_cli.engine.whisper import WhisperEngine

    engine = WhisperEngine(
        args.model, device=args.device, compute_type=args.compute_type, offline=True
    )
    row.update(
        load_s=round(time.perf_counter() - started, 2),
        device=engine.device,
        compute_type=engine.compute_type,
        encoder=engine.encoder,
    )
    row.update(windows=args.windows, tokens=args.tokens)
    for key in ("warm_up_s", "warm_up_again_s"):
        row[key] = round(engine.warm_up(args.windows, args.tokens), 3)
        row[key.replace("_s", "_cache")] = cached_bytes(cache)
    if args.then:
        from transcriber_cli import media
        from transcriber_cli.options import WhisperOptions

        audio = media.decode_audio(args.then)
        started = time.perf_counter()
        text = engine.transcribe(audio, WhisperOptions()).text
        row.update(then_s=round(time.perf_counter() - started, 3), then_cache=cached_bytes(cache),
                   then_words=len(text.split()), lanes=engine.decoder_lanes)  # fmt: skip
    emit(args.out, row)


if __name__ == "__main__":
    main()
