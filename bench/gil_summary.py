"""Where the GIL went: summarise a `py-spy record --gil --threads --format raw` profile.

    python bench/gil_summary.py gil.txt [--rate 100] > summary.json

Per thread: seconds of samples that held the GIL; for the diarizer's load thread, those
seconds by the line of ours that was running (imports of torch and pyannote, the pipeline
load). bench/gil_profile.sh records the profile on the GPU machine.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path


def summarise(path: Path, rate: float) -> dict:
    threads: collections.Counter[str] = collections.Counter()
    loader: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        name = frames[0].split(": ", 1)[-1] if ": " in frames[0] else "(unnamed)"
        threads[name] += n
        if name.startswith("load-diarizer"):
            ours = [f for f in frames if "transcriber_cli" in f]
            loader[ours[-1] if ours else frames[-1]] += n
    return {
        "rate_hz": rate,
        "gil_seconds_by_thread": {k: round(v / rate, 2) for k, v in threads.most_common()},
        "diarizer_load_by_line": {k: round(v / rate, 2) for k, v in loader.most_common(8)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile", type=Path)
    ap.add_argument("--rate", type=float, default=100.0)
    args = ap.parse_args()
    print(json.dumps(summarise(args.profile, args.rate), indent=1))


if __name__ == "__main__":
    main()
