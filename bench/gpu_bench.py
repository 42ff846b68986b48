"""GPU end to end: decode, VAD, transcription, diarization and speaker assignment on one long
file, a batch-size sweep, and whisper-ctranslate2 on the same file for comparison.

By default the file is examples/conversation.mp4 looped --loops times (108: 59.8 minutes) by
ffmpeg into AAC m4a (cached in bench/.data/), scored against the example's script repeated
as often; the diarization pipeline is --pipeline (``random``: community-1's architectures with
random weights, see common.random_pipeline). As published in bench/gpu.md:

    python3 bench/gpu_bench.py --pipeline random --batch-size 16 --sweep 1,4,8,16,32 --wct2 \
        --out $OUT/e2e.jsonl           # on the lent GPU machine: bench/device.py run e2e

Every result is one JSON line appended to --out and printed, so a run cut short keeps what it
measured: "e2e" (stage times, loads, WER, memory), one "sweep" row per batch size,
"whisper-ctranslate2". GPU memory: CTranslate2 has no allocator statistics, so its peak is
sampled from ``nvidia-smi`` (every 100 ms, whole device, minus the reading just before the
stage); pyannote's is ``torch.cuda.max_memory_allocated``. Runs on a CPU machine too
(``--device cpu --compute-type int8``; no GPU columns).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import DATA, EXAMPLE, EXAMPLE_SCRIPT, REPO, emit, make_parser, random_pipeline

sys.path.insert(0, str(REPO))


class GpuMemorySampler:
    """Peak device memory in MiB while the ``with`` block runs, via nvidia-smi, per GPU
    (``peaks``, ``deltas``) and for the busiest one (``peak``, ``delta``)."""

    QUERY = ("nvidia-smi", "--query-gpu=index,memory.used", "--format=csv,noheader,nounits")

    def __init__(self, interval_ms: int = 100) -> None:
        self.interval_ms = interval_ms
        self.peaks: dict[int, int] = {}
        self.bases: dict[int, int] = {}
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _parse(line: str) -> tuple[int, int] | None:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
        return None

    @classmethod
    def used_by_gpu(cls) -> dict[int, int]:
        if not shutil.which("nvidia-smi"):
            return {}
        out = subprocess.run(cls.QUERY, capture_output=True, text=True)
        found = (cls._parse(line) for line in out.stdout.splitlines())
        return dict(f for f in found if f) if out.returncode == 0 else {}

    @classmethod
    def used(cls) -> int:
        return max(cls.used_by_gpu().values(), default=0)

    def _see(self, index: int, mib: int) -> None:
        self.peaks[index] = max(self.peaks.get(index, 0), mib)

    def __enter__(self) -> GpuMemorySampler:
        self.bases = self.used_by_gpu()
        for index, mib in self.bases.items():
            self._see(index, mib)
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                [*self.QUERY, f"-lms={self.interval_ms}"], stdout=subprocess.PIPE, text=True
            )
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc and self._proc.stdout
        for line in self._proc.stdout:
            found = self._parse(line)
            if found:
                self._see(*found)

    def __exit__(self, *exc: object) -> None:
        for index, mib in self.used_by_gpu().items():
            self._see(index, mib)
        if self._proc:
            self._proc.terminate()
            self._proc.wait()

    @property
    def deltas(self) -> dict[int, int]:
        return {i: peak - self.bases.get(i, 0) for i, peak in sorted(self.peaks.items())}

    @property
    def base(self) -> int:
        return max(self.bases.values(), default=0)

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)

    @property
    def delta(self) -> int:
        return max(self.deltas.values(), default=0)


def normalize(text: str) -> str:
    text = text.lower().replace("$20,000", "twenty thousand dollars")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def wer(reference: str, hypothesis: str) -> float | None:
    try:
        import jiwer
    except ImportError:
        return None
    return round(jiwer.wer(normalize(reference), normalize(hypothesis)), 4)


def looped_reference(script: Path | None, duration: float) -> str | None:
    """The example's script repeated as many times as the looped file repeats it."""
    if script is None:
        return None
    data = json.loads(script.read_text())
    once = " ".join(t["text"] for t in data["turns"])
    return " ".join([once] * max(1, round(duration / data["duration"])))


def looped_example(loops: int) -> Path:
    """examples/conversation.mp4 played ``loops`` times, AAC 64 kbit/s mono (cached)."""
    dest = DATA / f"conversation-x{loops}.m4a"
    if not dest.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp.m4a")
        loop = ["-stream_loop", str(loops - 1), "-i", str(EXAMPLE)]
        encode = ["-vn", "-ac", "1", "-c:a", "aac", "-b:a", "64k", "-y", str(tmp)]
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", *loop, *encode],
            check=True,
        )
        tmp.rename(dest)
    return dest


def transcribe_timed(engine, audio, options) -> tuple[object, float, int]:
    with GpuMemorySampler() as mem:
        t0 = time.perf_counter()
        transcript = engine.transcribe(audio, options)
        seconds = time.perf_counter() - t0
    return transcript, seconds, mem.delta


def main() -> None:
    ap = make_parser(__doc__)
    ap.add_argument("--media", type=Path, help="input file (default: the looped example)")
    ap.add_argument("--loops", type=int, default=108, help="plays of the example (no --media)")
    ap.add_argument(
        "--reference",
        type=Path,
        default=EXAMPLE_SCRIPT,
        help="script JSON whose text, repeated to the file's length, scores WER ('' = none)",
    )
    ap.add_argument(
        "--pipeline",
        help="pyannote pipeline folder, or 'random' (built in a temp dir); none = no diarization",
    )
    ap.add_argument(
        "--out", type=Path, required=True, help="JSON lines file, appended (e.g. $OUT/e2e.jsonl)"
    )
    ap.add_argument("--model", default="tiny.en", help="model name or CTranslate2 folder")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--compute-type", default="float16")
    ap.add_argument("--batch-size", type=int, default=16, help="batch size of the e2e run")
    ap.add_argument("--sweep", default="1,4,8,16,32", help="batch sizes of the sweep (comma list)")
    ap.add_argument(
        "--sweep-seconds", type=float, default=0, help="sweep on the first N s (0 = all)"
    )
    ap.add_argument(
        "--stages",
        default="e2e,sweep",
        help="comma list of e2e,sweep (whisper-ctranslate2: --wct2)",
    )
    ap.add_argument(
        "--wct2",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also time whisper-ctranslate2",
    )
    ap.add_argument("--text", type=Path, help="where e2e saves its text; --wct2 compares to it")
    args = ap.parse_args()
    args.media = args.media or looped_example(args.loops)
    args.reference = args.reference if args.reference and args.reference.name else None

    from transcriber_cli import media
    from transcriber_cli.engine.whisper import WhisperEngine, WhisperOptions

    row: dict = {"kind": "e2e", "media": args.media.name, "device": args.device}
    row["gpu"] = (
        subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if shutil.which("nvidia-smi")
        else None
    )

    t0 = time.perf_counter()
    media.probe(args.media)
    row["probe_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    audio = media.decode_audio(args.media)
    row["decode_s"] = round(time.perf_counter() - t0, 3)
    duration = len(audio) / media.SAMPLE_RATE
    row["audio_s"] = round(duration, 1)
    reference = looped_reference(args.reference, duration)

    from faster_whisper.vad import VadOptions, get_speech_timestamps

    t0 = time.perf_counter()
    speech = get_speech_timestamps(audio, VadOptions())
    row["vad_s"] = round(time.perf_counter() - t0, 3)  # also inside the batched pipeline below
    row["speech_chunks"] = len(speech)

    t0 = time.perf_counter()
    engine = WhisperEngine(args.model, device=args.device, compute_type=args.compute_type)
    row["load_model_s"] = round(time.perf_counter() - t0, 3)
    row.update(model=engine.name, compute_type=engine.compute_type, batch_size=args.batch_size)
    stages = args.stages.split(",")
    our_text = args.text.read_text() if args.text and args.text.exists() else None
    if "e2e" in stages:
        our_text = run_e2e(args, engine, audio, duration, reference, row)
    if "sweep" in stages:
        run_sweep(args, engine, audio, WhisperOptions)
    if args.wct2:
        run_wct2(args, engine, duration, reference, our_text)


def run_e2e(args, engine, audio, duration, reference, row) -> str:
    from transcriber_cli.diarize.assign import assign_speakers
    from transcriber_cli.engine.whisper import WhisperOptions

    options = WhisperOptions(batch_size=args.batch_size)
    transcript, seconds, mem = transcribe_timed(engine, audio, options)
    row["transcribe_s"] = round(seconds, 3)  # VAD + features + encode/decode + word alignment
    row["ct2_peak_mib"] = mem
    row["words"] = len(transcript.words())
    row["wer_vs_script"] = wer(reference, transcript.text) if reference else None
    our_text = transcript.text

    if args.pipeline:
        import torch

        from transcriber_cli.diarize.pyannote_pipeline import PyannoteDiarizer, load_pipeline

        if args.pipeline == "random":
            tmp = tempfile.mkdtemp(prefix="pipeline-")
            args.pipeline = str(random_pipeline(Path(tmp) / "community"))
        t0 = time.perf_counter()
        pipe = load_pipeline(args.pipeline, device=args.device, embedding_batch_size=32)
        diarizer = PyannoteDiarizer(pipe, name=str(args.pipeline), device=args.device)
        row["load_pipeline_s"] = round(time.perf_counter() - t0, 3)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        turns = diarizer(audio)
        if args.device == "cuda":
            torch.cuda.synchronize()
            row["torch_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
        row["diarize_s"] = round(time.perf_counter() - t0, 3)
        row["turns"] = len(turns)
        t0 = time.perf_counter()
        labelled = assign_speakers(transcript, turns)
        row["assign_s"] = round(time.perf_counter() - t0, 3)
        row["speakers"] = len(labelled.speakers)
        del pipe, diarizer
        if args.device == "cuda":
            torch.cuda.empty_cache()
    stages = ("probe_s", "decode_s", "transcribe_s", "diarize_s", "assign_s")
    row["total_s"] = round(sum(row.get(k, 0) for k in stages), 3)
    row["rtf"] = round(row["total_s"] / duration, 5)
    row["speed_x"] = round(duration / row["total_s"], 1)
    emit(args.out, row)
    if args.text:
        args.text.write_text(our_text)
    return our_text


def run_sweep(args, engine, audio, WhisperOptions) -> None:
    from transcriber_cli import media

    cut = int(args.sweep_seconds * media.SAMPLE_RATE) if args.sweep_seconds else len(audio)
    sweep_audio = audio[:cut]
    sweep_ref = looped_reference(args.reference, len(sweep_audio) / media.SAMPLE_RATE)
    for bs in [int(b) for b in args.sweep.split(",") if b]:
        t, seconds, mem = transcribe_timed(engine, sweep_audio, WhisperOptions(batch_size=bs))
        emit(
            args.out,
            {
                "kind": "sweep",
                "batch_size": bs,
                "compute_type": engine.compute_type,
                "audio_s": round(len(sweep_audio) / media.SAMPLE_RATE, 1),
                "transcribe_s": round(seconds, 3),
                "rtf": round(seconds / (len(sweep_audio) / media.SAMPLE_RATE), 5),
                "ct2_peak_mib": mem,
                "words": len(t.words()),
                "wer_vs_script": wer(sweep_ref, t.text) if sweep_ref else None,
            },
        )


def run_wct2(args, engine, duration, reference, our_text) -> None:
    exe = shutil.which("whisper-ctranslate2")
    cmd = [exe] if exe else [sys.executable, "-m", "whisper_ctranslate2.whisper_ctranslate2"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd += [
            str(args.media),
            "--model_directory",
            engine.resolved.path,
            "--device",
            args.device,
            "--compute_type",
            engine.compute_type,
            "--batched",
            "True",
            "--batch_size",
            str(args.batch_size),
            "--vad_filter",
            "True",
            "--word_timestamps",
            "True",
            "--output_format",
            "json",
            "--output_dir",
            tmp,
            "--verbose",
            "False",
        ]
        with GpuMemorySampler() as mem:
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
        result: dict = {"kind": "whisper-ctranslate2", "rc": proc.returncode}
        outputs = list(Path(tmp).glob("*.json"))
        if proc.returncode == 0 and outputs:
            data = json.loads(outputs[0].read_text())
            text = data.get("text") or " ".join(s["text"] for s in data.get("segments", []))
            result.update(
                wall_s=round(seconds, 3),
                rtf=round(seconds / duration, 5),
                peak_mib=mem.delta,
                wer_vs_script=wer(reference, text) if reference else None,
                wer_vs_ours=wer(our_text, text) if our_text else None,
            )
        else:
            result["stderr"] = proc.stderr[-2000:]
        emit(args.out, result)


if __name__ == "__main__":
    main()
