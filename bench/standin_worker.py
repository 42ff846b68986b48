"""A real worker process with a BENCH STAND-IN for the speech engine (bench/scale.py runs 20).

Everything but the model is the product: ``transcriber_cli.worker.loop.Worker`` with its SQS
long poll, MongoDB claim/progress/complete, S3 download, ffmpeg decode, every export format
and S3 uploads. Only ``worker.models`` is replaced, by ``StandinModels``, whose engine sleeps
a fixed time and returns one segment, so the run measures the bookkeeping around a job.
Never use it for anything but measuring that.

    python bench/standin_worker.py --engine-ms 50 --idle-exit 10 [--profile worker.pstats]

Settings come from the environment (TRANSCRIBER_*, AWS_*), as for ``transcriber worker``.
The last stdout line is a JSON summary: outcomes, why it stopped, the engine's call times.
"""

from __future__ import annotations

import cProfile
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from common import make_parser  # noqa: E402  (bench/ is a folder of scripts, not a package)

from transcriber_cli.media import SAMPLE_RATE  # noqa: E402
from transcriber_cli.pipeline.models import LoadedModels  # noqa: E402
from transcriber_cli.transcript import Segment, Transcript, Word  # noqa: E402

WORDS = ("bench", "stand", "in", "engine", "says", "these", "eight", "words")


class StandinEngine:
    """Duck-types ``WhisperEngine`` for the flow: sleeps ``seconds``, returns one segment."""

    name = "bench-standin"
    device = "cpu"
    compute_type = "int8"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[float] = []  # seconds each transcribe() took, sleep included

    def batch_size(self, options: Any) -> int:
        return options.batch_size or 8

    def transcribe(
        self, audio: Any, options: Any, progress: Callable[[float, float], None] | None = None
    ) -> Transcript:
        t0 = time.perf_counter()
        duration = round(len(audio) / SAMPLE_RATE, 3)
        time.sleep(self.seconds)
        step = duration / len(WORDS)
        words = [
            Word(start=round(i * step, 3), end=round((i + 1) * step, 3), text=f" {w}")
            for i, w in enumerate(WORDS)
        ]
        if progress:
            progress(duration, duration)
        segment = Segment(id=0, start=0.0, end=duration, text=" ".join(WORDS), words=words)
        self.calls.append(time.perf_counter() - t0)
        return Transcript(language="en", duration=duration, segments=[segment], model=self.name)


class StandinModels:
    """Stands in for ``ModelCache``: the same ``get(settings)``, nothing loaded."""

    def __init__(self, engine: StandinEngine) -> None:
        self.engine = engine

    def get(self, settings: Any, *, wait: bool = True) -> LoadedModels:
        no_diarizer: Future = Future()
        no_diarizer.set_result((None, {"status": "skipped", "reason": "bench stand-in"}))
        return LoadedModels(cast(Any, self.engine), no_diarizer)


def profile_threads(path: Path) -> Callable[[], None]:
    """cProfile every thread started from now on (cProfile sees only its own thread: the
    worker's jobs run in consumer threads); the returned call merges them into ``path``."""
    profiles: list[cProfile.Profile] = []
    plain_run = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.runcall(plain_run, thread)

    threading.Thread.run = run  # type: ignore[method-assign,assignment]

    def dump() -> None:
        import pstats

        stats = pstats.Stats(*profiles) if profiles else None
        if stats:
            stats.dump_stats(path)

    return dump


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--engine-ms", type=float, default=50, help="stand-in engine sleep")
    parser.add_argument("--idle-exit", type=float, default=10, help="exit after S s idle")
    parser.add_argument("--profile", type=Path, help="write the threads' cProfile stats here")
    args = parser.parse_args()
    # As `transcriber worker` logs (its job lines at INFO), with times for the analysis.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("transcriber_cli.worker").setLevel(logging.INFO)

    from transcriber_cli.config import load_settings
    from transcriber_cli.worker.loop import Worker

    dump = profile_threads(args.profile) if args.profile else None
    engine = StandinEngine(args.engine_ms / 1000)
    worker = Worker(load_settings(), concurrency=1, once=False, idle_exit=args.idle_exit)
    worker.models = cast(Any, StandinModels(engine))
    worker.install_signal_handlers()
    summary = worker.run()
    if dump:
        dump()
    print(
        json.dumps(
            {
                "worker_id": summary.worker_id,
                "outcomes": summary.outcomes,
                "reason": summary.reason,
                "engine_calls_s": [round(s, 6) for s in engine.calls],
                "profiled": bool(args.profile),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
