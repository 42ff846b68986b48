"""The baseline: a bare faster-whisper BatchedInferencePipeline call, nothing else.

Loads the model once, then for each file: ``faster_whisper.decode_audio`` and a batched
transcribe with the given options, consuming every segment (the work happens while the
generator is iterated). Writes nothing; prints one JSON object (texts and stage times).
"""

from __future__ import annotations

import json
import sys
import time

from common import make_parser


def main() -> None:
    parser = make_parser(__doc__, "\nRun by bench_local.py (tool 'bare').")
    parser.add_argument("model_dir", help="CTranslate2 model folder")
    parser.add_argument("files", nargs="+", help="audio/video files, one model load for all")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--no-vad", action="store_true", help="Silero VAD off (default: on)")
    parser.add_argument("--no-word-timestamps", action="store_true", help="default: on")
    parser.add_argument("--cpu-threads", type=int, default=0, help="0 = CTranslate2's default")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compute-type", default="int8", help="e.g. int8, float16")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

    t_import = time.perf_counter()
    model = WhisperModel(
        args.model_dir,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.cpu_threads,
    )
    pipeline = BatchedInferencePipeline(model)
    t_load = time.perf_counter()
    decode = transcribe = 0.0
    texts: dict[str, str] = {}
    for path in args.files:
        t = time.perf_counter()
        audio = decode_audio(path)
        decode += time.perf_counter() - t
        t = time.perf_counter()
        segments, _info = pipeline.transcribe(
            audio,
            batch_size=args.batch_size,
            beam_size=args.beam_size,
            word_timestamps=not args.no_word_timestamps,
            vad_filter=not args.no_vad,
        )
        texts[path] = " ".join(s.text.strip() for s in segments)
        transcribe += time.perf_counter() - t
    json.dump(
        {
            "texts": texts,
            "stages": {
                "import": round(t_import - t0, 3),
                "load": round(t_load - t_import, 3),
                "decode": round(decode, 3),
                "transcribe": round(transcribe, 3),
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
