"""What Python's garbage collector costs a run before and after its models are ready: the
real `transcribe` in fresh processes, each collection timed from inside (``gc.callbacks``)
and the run's log lines stamped, for this checkout and earlier copies of the package
(``--tree NAME=DIR``, DIR holding ``transcriber_cli``: ``git archive REV transcriber_cli``),
alternating. The child runs with ``-P``: the copy on PYTHONPATH, not the working directory's.

    python bench/gc_startup.py --tree before=/tmp/before --repeats 3 \\
        --json bench/results/cpu-gc-startup.jsonl -- examples/conversation.mp4 -m tiny.en
    # a GPU: bench/results/gpu/production/logs/66-call8.sh (the hour, large-v3, built-in speakers)

Each row: the seconds at which the run's lines came (the run's start, decoded, models ready,
transcribed, finished), collections and their seconds by generation before the run, while the
models loaded (from the run's start until they were ready) and after, the objects frozen when
the file finished, and the whole process's wall.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit

HERE = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, json, logging, os, sys, time
t0 = float(os.environ["GC_T0"])
cols, starts, marks = [], {}, {}
def timed(phase, info):
    g = info["generation"]
    if phase == "start":
        starts[g] = time.perf_counter()
    elif g in starts:
        cols.append((g, time.time() - t0, time.perf_counter() - starts.pop(g)))
gc.callbacks.append(timed)
KEYS = ("decoded", "models ready", "diarization steps", "transcribed", "finished")
class Marks(logging.Handler):
    def emit(self, record):
        text = record.getMessage()
        key = "run" if " inputs, " in text else next((k for k in KEYS if text.startswith(k)), None)
        if key and key not in marks:
            marks[key] = round(time.time() - t0, 3)
        if key == "finished":
            with open(os.environ["GC_OUT"], "w") as f:
                json.dump({"marks": marks, "collections": cols, "frozen": gc.get_freeze_count()}, f)
log = logging.getLogger("transcriber_cli")
log.addHandler(Marks(logging.DEBUG))
log.setLevel(logging.DEBUG)
from transcriber_cli.cli import transcribe_main
sys.argv = ["transcribe", *sys.argv[1:]]
transcribe_main()
"""


def one(name: str, tree: Path, args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gc.json"
        env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "GC_OUT": str(out)}  # fmt: skip
        start = time.time()
        env["GC_T0"] = repr(start)
        proc = subprocess.run([sys.executable, "-P", "-c", CHILD, *args, "-o", tmp, "-f", "json"],
                              env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
        wall = time.time() - start
        if proc.returncode != 0 or not out.exists():
            return {"tree": name, "rc": proc.returncode, "stderr": proc.stderr[-2000:]}
        data = json.loads(out.read_text())
    run, ready = data["marks"].get("run", 0.0), data["marks"].get("models ready", float("inf"))
    row: dict = {"tree": name, "rc": 0, "wall_s": round(wall, 3), **data["marks"],
                 "frozen_at_end": data["frozen"]}  # fmt: skip
    spans = {
        "before_run": lambda t: t < run,
        "loading": lambda t: run <= t <= ready,
        "after_ready": lambda t: t > ready,
    }
    for when, keep in spans.items():
        for g in (0, 1, 2):
            picked = [s for gen, t, s in data["collections"] if gen == g and keep(t)]
            row[f"gen{g}_{when}"] = len(picked)
            row[f"gen{g}_{when}_s"] = round(sum(picked), 4)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="an earlier copy of the package (repeatable); this checkout is 'this'",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="append one JSON line per run here")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then transcribe's arguments")
    a = parser.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    trees = [(n, Path(d).resolve()) for n, d in (t.split("=", 1) for t in a.tree)]
    trees.append(("this", HERE))
    for r in range(a.repeats):
        for name, tree in trees if r % 2 == 0 else trees[::-1]:
            row = {"repeat": r, **one(name, tree, args)}
            if a.json:
                emit(a.json, row)
            else:
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
