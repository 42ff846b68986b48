"""Draw the benchmark plots of docs/benchmarks.md from the committed results in bench/results/.

    python bench/plots.py                  # rewrites docs/images/bench/*.png
    python bench/plots.py --out DIR        # somewhere else (the docs test compares the names)

Nothing is measured here: every number is read from a results file, so a re-run after new
measurements (copied into bench/results/) redraws the plots. Needs matplotlib (`.[bench]`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or a build machine
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
OUT = REPO / "docs" / "images" / "bench"

OURS, PEER, OTHER, BASE = "#3f51b5", "#ff9800", "#9e9e9e", "#4caf50"
TOOLS = {  # bench_local.py's tool keys, as the write-ups name them
    "ours": ("transcribe (ours)", OURS),
    "wct2": ("whisper-ctranslate2", PEER),
    "wct2-default": ("whisper-ctranslate2 at its defaults", OTHER),
    "wct2-loop": ("whisper-ctranslate2, one process per file", OTHER),
    "wct2-multi": ("whisper-ctranslate2, all files in one process", PEER),
    "bare": ("bare faster-whisper (batched)", BASE),
}
SYSTEMS = {  # production.py's systems
    "ours": ("ours", OURS),
    "whisperx": ("whisperX 3.8.6", PEER),
    "hf": ("transformers pipeline", OTHER),
    "bare": ("bare faster-whisper (no speakers)", BASE),
}


def _json(name: str) -> Any:
    return json.loads((RESULTS / name).read_text())


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (RESULTS / name).read_text().splitlines() if line.strip()]


def _save(fig: Any, out: Path, name: str) -> Path:
    path = out / name
    fig.tight_layout()
    # No software/version metadata: the same results give the same file.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def memory_by_length(out: Path) -> Path:
    """Peak RSS of one `transcribe` by input length: whole waveform (before) vs windows."""
    rows = _jsonl("memory.json")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for tree, label, color, dy in (
        ("before", "before: the whole waveform in memory (edad749)", OTHER, 6),
        ("after", "now: decoded to a file, read a 600 s window at a time", OURS, -14),
    ):
        points = sorted((r["seconds"] / 3600, r["peak_rss_mb"]) for r in rows if r["tree"] == tree)
        hours, mb = zip(*points)
        ax.plot(hours, mb, marker="o", color=color, label=label)
        for h, m in points:
            ax.annotate(f"{m}", (h, m), textcoords="offset points", xytext=(0, dy), ha="center",
                        fontsize=8, color=color)  # fmt: skip
    window = [r for r in _jsonl("memory-window120.json") if r["tree"] == "after"]
    for r in window:
        ax.plot(r["seconds"] / 3600, r["peak_rss_mb"], marker="v", color=BASE, linestyle="",
                label=f"now, {r['window_s']:.0f} s windows")  # fmt: skip
    ax.set_xlabel("input length (hours)")
    ax.set_ylabel("peak RSS, process tree (MB)")
    ax.set_title("Memory by input length (tiny.en, CPU, no diarization)")
    ax.set_ylim(0, max(r["peak_rss_mb"] for r in rows) * 1.15)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, out, "memory-by-length.png")


def _tool_bars(ax: Any, summary: dict[str, Any], title: str) -> None:
    tools = [t for t in TOOLS if t in summary]
    medians = [summary[t]["wall_s"]["median"] for t in tools]
    low = [m - summary[t]["wall_s"]["min"] for t, m in zip(tools, medians)]
    high = [summary[t]["wall_s"]["max"] - m for t, m in zip(tools, medians)]
    y = range(len(tools))
    ax.barh(y, medians, xerr=[low, high], color=[TOOLS[t][1] for t in tools], capsize=3)
    ax.set_yticks(list(y), [TOOLS[t][0] for t in tools], fontsize=8)
    ax.invert_yaxis()
    for i, m in enumerate(medians):
        ax.annotate(f"{m:.1f} s", (m, i), textcoords="offset points", xytext=(4, -10),
                    fontsize=8)  # fmt: skip
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("wall seconds, median of rounds (bars: min to max)")
    ax.grid(axis="x", alpha=0.3)


def _local(out: Path, name: str, summaries: dict[str, Any], audio: dict[str, float], where: str):
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5.2))
    titles = {"long": f"one file, {audio['long']:.0f} s of speech",
              "folder": f"a folder of 50 clips, {audio['folder']:.0f} s in all"}  # fmt: skip
    for ax, case in zip(axes, ("long", "folder")):
        _tool_bars(ax, summaries[case], titles[case])
    fig.suptitle(f"Local runs, tiny.en, same settings: {where}", fontsize=11)
    return _save(fig, out, name)


def local_cpu(out: Path) -> Path:
    """Ours vs whisper-ctranslate2 vs the bare library on the 2-core CPU machine."""
    data = _json("local.json")
    return _local(out, "local-cpu.png", data["summary"], data["audio_seconds"],
                  "CPU, 2 shared cores, int8")  # fmt: skip


def local_gpu(out: Path) -> Path:
    """The same cases on an H200 (run B)."""
    long, folder = _json("gpu/gpu-long.json"), _json("gpu/gpu-folder.json")
    summaries = {"long": long["summary"]["long"], "folder": folder["summary"]["folder"]}
    audio = {"long": long["audio_seconds"]["long"], "folder": folder["audio_seconds"]["folder"]}
    return _local(out, "local-gpu.png", summaries, audio, "NVIDIA H200, float16")


def gpu_production(out: Path) -> Path:
    """Whole processes on the hour with simulated large-v3 / turbo, per device call."""
    calls = {
        "call 1": _jsonl("gpu/production/1-large-v3-hour.jsonl")
        + _jsonl("gpu/production/1-turbo-and-variants.jsonl"),
        "call 2": _jsonl("gpu/production/2-large-v3-hour.jsonl")
        + _jsonl("gpu/production/2-turbo-and-variants.jsonl"),
        "call 3 (final)": _jsonl("gpu/production/3-final-hour.jsonl"),
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, model in zip(axes, ("large-v3", "turbo")):
        width = 0.8 / len(SYSTEMS)
        for s, (system, (label, color)) in enumerate(SYSTEMS.items()):
            for c, rows in enumerate(calls.values()):
                row = next((r for r in rows if (r["system"], r["model"], r["variant"], r["input"])
                            == (system, model, "default", "hour")), None)  # fmt: skip
                if row is None:
                    continue
                x = c + (s - (len(SYSTEMS) - 1) / 2) * width
                ax.bar(x, row["wall_s"], width, color=color, label=label if c == 0 or s else None)
                ax.annotate(f"{row['x_rt']:.0f}×", (x, row["wall_s"]), textcoords="offset points",
                            xytext=(0, 2), ha="center", fontsize=7)  # fmt: skip
        ax.set_xticks(range(len(calls)), list(calls), fontsize=9)
        ax.set_title(f"{model} (random weights), one hour with speakers", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("wall seconds, whole process (labels: × real time)")
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes[1].legend(handles.values(), handles.keys(), fontsize=8, loc="upper right")
    fig.suptitle("GPU at production scale: NVIDIA H200, each call a different machine",
                 fontsize=11)  # fmt: skip
    return _save(fig, out, "gpu-production.png")


def gpu_batch_sweep(out: Path) -> Path:
    """Transcription time of the hour by batch size (tiny.en, float16, H200)."""
    rows = [r for name in ("gpu/e2e-wct2-sweep-1-4.jsonl", "gpu/e2e-sweep-8-16-32.jsonl")
            for r in _jsonl(name) if r.get("kind") == "sweep"]  # fmt: skip
    rows.sort(key=lambda r: r["batch_size"])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    sizes = [str(r["batch_size"]) for r in rows]
    seconds = [r["transcribe_s"] for r in rows]
    ax.bar(sizes, seconds, color=[OTHER if r["batch_size"] == 1 else OURS for r in rows])
    for i, r in enumerate(rows):
        ax.annotate(f"{r['transcribe_s']:.1f} s\nWER {r['wer_vs_script']:.2%}",
                    (i, r["transcribe_s"]), textcoords="offset points", xytext=(0, 3),
                    ha="center", fontsize=8)  # fmt: skip
    ax.set_ylim(0, max(seconds) * 1.3)
    ax.set_xlabel("batch size (1 = sequential decoding)")
    ax.set_ylabel("transcription seconds")
    ax.set_title(f"The same hour ({rows[0]['audio_s'] / 60:.0f} min) by batch size: "
                 "tiny.en, float16, H200", fontsize=10)  # fmt: skip
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out, "gpu-batch-sweep.png")


def diarization_devices(out: Path) -> Path:
    """Seconds of diarization per audio minute, GPU vs CPU threads of the same machine."""
    pyannote = {r["device"]: r for r in _json("gpu/pyannote.json") if "device" in r}

    def builtin(device: str) -> float:
        files = [f for rows in _json(f"diarization-builtin-h200-{device}.json").values()
                 for f in rows]  # fmt: skip
        return sum(f["unknown_wall_s"] for f in files) / sum(f["minutes"] for f in files)

    def community(device: str) -> float:
        return pyannote[device]["run_s"] / pyannote[device]["minutes"]

    bars = [
        ("community-1-shaped pyannote, GPU", community("cuda"), OURS),
        ("community-1-shaped pyannote, 16 CPU threads", community("cpu"), OTHER),
        ("built-in pipeline, GPU", builtin("cuda"), OURS),
        ("built-in pipeline, 16 CPU threads", builtin("cpu16"), OTHER),
    ]
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    y = range(len(bars))
    ax.barh(y, [b[1] for b in bars], color=[b[2] for b in bars])
    ax.set_yticks(list(y), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    for i, (_, value, _) in enumerate(bars):
        ax.annotate(f"{value:.2f} s", (value, i), textcoords="offset points", xytext=(4, -3),
                    fontsize=8)  # fmt: skip
    ax.set_xlim(right=max(b[1] for b in bars) * 4)
    ax.set_xlabel("seconds per audio minute (log scale)")
    ax.set_title("Diarization, GPU vs CPU on one H200 machine", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out, "diarization-devices.png")


PLOTS: tuple[Callable[[Path], Path], ...] = (
    memory_by_length, local_cpu, local_gpu, gpu_production, gpu_batch_sweep, diarization_devices,
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the PNGs ({OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for plot in PLOTS:
        print(f"wrote {plot(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
