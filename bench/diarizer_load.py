"""How long the built-in diarizer's load takes in a fresh process, this checkout against an
earlier one (``--before``, a ``git worktree``), alternating: torch is imported first (it is
shared with the Whisper load), then ``load_diarizer`` is timed, with which of the clustering's
packages were imported by then.

    python bench/diarizer_load.py --before /tmp/before --repeats 5 \\
        --json bench/results/cpu-builtin-load.json
    python3 bench/device.py exec -- python3 bench/diarizer_load.py --device cuda ...  # a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys, time
import torch
from transcriber_cli.config import Settings
from transcriber_cli.diarize.loader import load_diarizer
start = time.perf_counter()
diarizer, note = load_diarizer(Settings(diarize=True, diarization_model="builtin"), device=DEVICE)
seconds = time.perf_counter() - start
print(json.dumps({"load_s": round(seconds, 3), "clustering_imported": [
    m for m in ("scipy.linalg", "sklearn.cluster") if m in sys.modules]}))
"""


def one(tree: Path, device: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = CHILD.replace("DEVICE", repr(device))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True,
                         text=True, check=True, timeout=300)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    trees = {"new": HERE, "before": args.before.resolve()}
    rows = []
    for r in range(args.repeats):
        for name in ["new", "before"] if r % 2 == 0 else ["before", "new"]:
            row = {"tree": name, "round": r + 1, **one(trees[name], args.device)}
            rows.append(row)
            print(row, flush=True)
    summary = {
        name: sorted(x["load_s"] for x in rows if x["tree"] == name) for name in trees
    }  # fmt: skip
    args.json.write_text(json.dumps({"device": args.device, "cpus": os.cpu_count(),
                                     "command": " ".join(sys.argv), "rows": rows,
                                     "load_s_sorted": summary}, indent=1) + "\n")  # fmt: skip
    print(summary)


if __name__ == "__main__":
    main()
