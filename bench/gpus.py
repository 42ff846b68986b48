"""Several devices: scaling efficiency and files in flight, from `production.py run` rows.

The rows come from whole `transcribe` processes (bench/production.py), the same inputs and
weights, labelled by `--variant`:

    gpus1     --extra-args "--gpus 1"                    one GPU
    gpusall   --extra-args "--gpus all"                  every GPU of the machine
    fpd1/fpd2 --env TRANSCRIBER_FILES_PER_DEVICE=1|2     files in flight per GPU

On a machine with several GPUs (device tool, kind nvidia-h200-x2 or more), after the
production setup calls and `prepare`:

    P="python3 bench/device.py run production -- run --systems ours --model large-v3"
    $P --input folder --variant gpus1 --extra-args "--gpus 1"
    $P --input folder --variant gpusall --extra-args "--gpus all"
    (the same with --input three-hours)

Then here: `python bench/gpus.py table RESULTS.jsonl` prints the table of bench/README.md:
per input, seconds on one GPU and on N, speed-up, efficiency = t1 / (N * tN) (target 0.9 for
the folder, 0.8 for one file), and each GPU's memory peak. The same script on a CPU dry run
(`--device cpu`, `--extra-args "--gpus 2"`: two model copies) checks the plumbing only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def rows_of(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("system") == "ours" and row.get("rc") == 0:
            rows.append(row)
    return rows


def devices_of(row: dict) -> int:
    """How many devices a row used: its per-GPU peaks, else the --gpus count it was given."""
    peaks = row.get("gpu_peaks_mib") or {}
    busy = [i for i, mib in peaks.items() if mib > 256]  # a model copy is far above 256 MiB
    if busy:
        return len(busy)
    cmd = row.get("cmd", "").split()
    if "--gpus" in cmd:
        value = cmd[cmd.index("--gpus") + 1]
        if value.isdigit():
            return int(value)
    return 1


def best(rows: list[dict], variant: str) -> dict | None:
    """The fastest repeat of a variant (noise only ever adds time)."""
    found = [r for r in rows if r.get("variant") == variant]
    return min(found, key=lambda r: r["wall_s"]) if found else None


def scaling(rows: list[dict], one: str = "gpus1", many: str = "gpusall") -> list[dict]:
    table = []
    for model, source in sorted({(r["model"], r["input"]) for r in rows}):
        mine = [r for r in rows if r["model"] == model and r["input"] == source]
        a, b = best(mine, one), best(mine, many)
        if a is None or b is None:
            continue
        n = devices_of(b)
        table.append(
            {
                "model": model,
                "input": source,
                "files": b["files"],
                "audio_s": b["audio_s"],
                "one_s": a["wall_s"],
                "devices": n,
                "many_s": b["wall_s"],
                "speedup": round(a["wall_s"] / b["wall_s"], 2),
                "efficiency": round(a["wall_s"] / (n * b["wall_s"]), 2),
                "gpu_peaks_mib": b.get("gpu_peaks_mib") or {"0": b.get("gpu_peak_mib")},
            }
        )
    return table


def markdown(table: list[dict]) -> str:
    lines = [
        "| model | input | audio | 1 device | N | N devices | speed-up | efficiency "
        "| GPU peaks (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in table:
        peaks = ", ".join(f"{k}: {v}" for k, v in t["gpu_peaks_mib"].items() if v is not None)
        lines.append(
            f"| {t['model']} | {t['input']} ({t['files']} files) | {t['audio_s'] / 60:.0f} min "
            f"| {t['one_s']:.1f} s | {t['devices']} | {t['many_s']:.1f} s | {t['speedup']}x "
            f"| {t['efficiency']} | {peaks or '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("table", help="scaling table from production.py rows")
    p.add_argument("results", type=Path, nargs="+")
    p.add_argument("--one", default="gpus1", help="variant of the one-device rows")
    p.add_argument("--many", default="gpusall", help="variant of the several-device rows")
    p.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    rows = [r for path in args.results for r in rows_of(path)]
    table = scaling(rows, args.one, args.many)
    if not table:
        sys.exit(f"no pair of {args.one!r} and {args.many!r} rows in {args.results}")
    print(markdown(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
