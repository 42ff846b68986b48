"""What each thread was doing, when: a `py-spy record --threads --idle --format chrometrace`
trace summarised as spans, one line per stretch of a thread spent in one function of ours.

    python bench/spy_timeline.py trace.json [--min 0.2] [--threads window-,load-models]

Each line: start-end seconds from the recording's first sample, the innermost frame of
`transcriber_cli` (or `-` outside our code), and the three leaf functions it spent most in
(an import names the module being imported). py-spy samples; a span is as exact as its
rate (10 ms at 100 Hz), and a thread that has ended keeps its last stack to the trace's end
(read its last span as "until about then"). bench/results/gpu/production/logs/35-call8.sh
records one.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
from pathlib import Path

Frame = tuple[str, str]  # (function, file)


def _where(stack: list[Frame]) -> tuple[str, str]:
    """(the innermost frame of ours, the leaf with the module an import is loading)."""
    ours = [f for f in stack if "transcriber_cli" in f[1]]
    mine = f"{os.path.basename(ours[-1][1])}:{ours[-1][0]}" if ours else "-"
    if not stack:
        return mine, "-"
    leaf = f"{os.path.basename(stack[-1][1])}:{stack[-1][0]}"
    modules = [f for f in stack if f[0] == "<module>"]
    if modules and any("importlib" in f[1] for f in stack):
        leaf += " import " + "/".join(modules[-1][1].split("/")[-3:])
    return mine, leaf


def spans(events: list[dict], gap: float = 0.02) -> dict[str, list[tuple]]:
    """Per thread name: (start, end, ours, Counter of leaf seconds), consecutive stretches
    in one function of ours (closer than ``gap`` seconds) joined."""
    by_thread: dict[int, list[dict]] = collections.defaultdict(list)
    names: dict[int, str] = {}
    for e in events:
        by_thread[e["tid"]].append(e)
        if e["name"].startswith("thread ("):
            names.setdefault(e["tid"], e["name"])
    t0 = min(e["ts"] for e in events)
    out: dict[str, list[tuple]] = {}
    for tid, evs in by_thread.items():
        stack: list[Frame] = []
        joined: list[tuple] = []
        current, since = None, 0.0
        for e in sorted(evs, key=lambda e: (e["ts"], e["ph"] != "E")):
            t = (e["ts"] - t0) / 1e6
            if e["ph"] == "B":
                stack.append((e["name"], e["args"].get("filename", "")))
            elif stack:
                stack.pop()
            where = _where(stack)
            if where == current:
                continue
            if current is not None and t > since:
                mine, leaf = current
                last = joined[-1] if joined else None
                if last and last[2] == mine and since - last[1] < gap:
                    last[3][leaf] += t - since
                    joined[-1] = (last[0], t, mine, last[3])
                else:
                    joined.append((since, t, mine, collections.Counter({leaf: t - since})))
            current, since = where, t
        out[names.get(tid, str(tid))] = joined
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path, help="py-spy's chrome trace (.json or .json.gz)")
    parser.add_argument("--min", type=float, default=0.2, help="shortest span shown (s)")
    parser.add_argument("--threads", default="", help="comma list of name parts to show")
    args = parser.parse_args()
    opener = gzip.open if args.trace.suffix == ".gz" else open
    with opener(args.trace, "rt") as handle:
        events = json.load(handle)
    wanted = [w for w in args.threads.split(",") if w]
    for name, found in spans(events).items():
        if wanted and not any(w in name for w in wanted):
            continue
        shown = [s for s in found if s[1] - s[0] >= args.min]
        if not shown:
            continue
        print(f"== {name}")
        for start, end, mine, leaves in shown:
            top = ", ".join(f"{k} {v:.2f}" for k, v in leaves.most_common(3))
            print(f"  {start:6.2f}-{end:6.2f} ({end - start:5.2f}) {mine}  [{top}]")


if __name__ == "__main__":
    main()
