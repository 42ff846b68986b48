"""Where a fresh process's start-up goes: our WhisperEngine's load, step by step.

Run it as a fresh process (that is the point). It builds ``WhisperEngine`` as ``transcribe``
does, with thin timers around the steps of its ``__init__`` (never ours changed): importing
faster-whisper, CTranslate2's model load, importing torch, the log-Mel extractor's move to
the GPU, the torch encoder's install, the rest. A ticker thread counts how long it waits for
the GIL during each step: a step that holds the GIL shows its whole length as the ticker's
longest gap; one that releases it (C++ without the GIL) shows gaps of a few ms.
The ticker keeps one window for all threads: for steps that overlap (the encoder's build on
its own thread during CTranslate2's load) it cannot say which of them held the GIL.

With ``--diarizer DIR`` the diarizer loads on a thread started first, as the CLI's model cache
does (``pipeline/models.py``), so the steps are timed beside that import; as there, the
encoder is then built after CTranslate2's load (``--meanwhile yes`` builds it during).

    python bench/startup_profile.py --model CT2DIR --device cuda --compute-type float16 \\
        [--diarizer PIPELINE_DIR] --json $OUT/startup.json
    python bench/startup_profile.py --device cpu --json /tmp/s.json     # a dry run, tiny.en
"""

from __future__ import annotations

import functools
import sys
import threading
import time

T0 = time.perf_counter()

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO)]  # transcriber_cli from this checkout, installed or not

from common import make_parser, write_json  # noqa: E402


class Ticker(threading.Thread):
    """Wakes every millisecond; remembers the longest wait between two wake-ups per window."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="ticker")
        self.last = time.perf_counter()
        self.longest = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - self.last)
            self.last = now

    def window(self) -> float:
        longest, self.longest = self.longest, 0.0
        return longest


class PatchOnImport:
    """A meta path finder: times the import of one module, then wraps its
    ``install_torch_encoder`` in a step."""

    def __init__(self, name: str, step: Any) -> None:
        self.name, self.step = name, step

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.name:
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        assert spec is not None and spec.loader is not None
        loader, step = spec.loader, self.step

        class Loader(type(loader)):  # type: ignore[misc]
            def exec_module(self, module: Any) -> None:
                step("import torch_encoder (torch)", loader.exec_module, module)
                module.install_torch_encoder = functools.partial(
                    step, "torch encoder install", module.install_torch_encoder
                )

        spec.loader = Loader.__new__(Loader)
        spec.loader.__dict__.update(loader.__dict__)
        return spec


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--model", default=None, help="CT2 model dir (default: tiny.en)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compute-type", default="auto")
    parser.add_argument("--encoder", default="auto", help="whisper_encoder setting")
    parser.add_argument("--diarizer", default=None, help="pipeline dir: load it beside")
    parser.add_argument(
        "--meanwhile",
        choices=("auto", "yes", "no"),
        default="auto",
        help="encoder_meanwhile (auto: as the CLI, no with --diarizer)",
    )
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    steps: list[dict[str, Any]] = []
    ticker = Ticker()
    ticker.start()

    def step(name: str, fn: Any, *a: Any, **kw: Any) -> Any:
        ticker.window()
        start = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            end = time.perf_counter()
            steps.append({
                "step": name, "start": round(start - T0, 3), "seconds": round(end - start, 3),
                "longest_gil_wait": round(ticker.window(), 3),
            })  # fmt: skip

    def import_(name: str) -> Any:
        import importlib

        return importlib.import_module(name)

    result: dict[str, Any] = {"argv": sys.argv[1:], "steps": steps}
    diarizer_thread = None
    if args.diarizer:
        from transcriber_cli.config import Settings

        settings = Settings(diarize=True, diarization_model=args.diarizer, device=args.device,
                            offline=True)  # fmt: skip
        loaded: dict[str, float] = {}

        def load() -> None:
            from transcriber_cli.diarize.loader import load_diarizer

            start = time.perf_counter()
            load_diarizer(settings, device=args.device)
            loaded.update(start=start - T0, seconds=time.perf_counter() - start)

        diarizer_thread = threading.Thread(target=load, name="load-diarizer")
        diarizer_thread.start()

    step("import transcriber_cli.engine.whisper", import_, "transcriber_cli.engine.whisper")
    fw = step("import faster_whisper", import_, "faster_whisper")
    from transcriber_cli.engine import features, whisper

    real_model = fw.WhisperModel

    class TimedModel(real_model):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            step("WhisperModel (CTranslate2 load)", super().__init__, *a, **kw)

    fw.WhisperModel = TimedModel
    real_on_gpu = features.on_gpu

    def on_gpu(*a: Any, **kw: Any) -> Any:
        step("import torch", import_, "torch")
        return step("features on the GPU", real_on_gpu, *a, **kw)

    features.on_gpu = on_gpu
    # torch_encoder imports torch at its top: patched once the engine imports it.
    sys.meta_path.insert(0, PatchOnImport("transcriber_cli.engine.torch_encoder", step))
    model = args.model
    if model is None:
        from transcriber_cli.engine.sources import resolve_bundled

        model = resolve_bundled("tiny.en")
    start = time.perf_counter()
    meanwhile = args.meanwhile == "yes" or (args.meanwhile == "auto" and not args.diarizer)
    result["encoder_meanwhile"] = meanwhile
    engine = whisper.WhisperEngine(model, device=args.device, compute_type=args.compute_type,
                                   encoder=args.encoder, encoder_meanwhile=meanwhile)  # fmt: skip
    result["engine_seconds"] = round(time.perf_counter() - start, 3)
    result["engine_ready"] = round(time.perf_counter() - T0, 3)
    result["encoder"] = engine.encoder
    if diarizer_thread is not None:
        diarizer_thread.join()
        result["diarizer"] = {k: round(v, 3) for k, v in loaded.items()}
    ticker.stop.set()
    write_json(args.json, result)
    for s in steps:
        print(f"{s['start']:7.2f} {s['seconds']:7.2f}  gil-wait {s['longest_gil_wait']:6.3f}  "
              f"{s['step']}")  # fmt: skip
    print("engine ready", result["engine_ready"], "diarizer", result.get("diarizer"))


if __name__ == "__main__":
    main()
