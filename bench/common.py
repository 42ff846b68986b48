"""Helpers shared by the bench entry points (bench/ is a folder of scripts, not a package:
each script imports this module from its own folder, which Python puts first on sys.path)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DATA = HERE / ".data"  # generated inputs (gitignored)
EXAMPLE = REPO / "examples" / "conversation.mp4"
EXAMPLE_SCRIPT = REPO / "examples" / "conversation.script.json"


def make_parser(doc: str, more: str = "") -> argparse.ArgumentParser:
    """An entry point's parser: its docstring's first paragraph as the description, the rest
    (usage examples, what it writes) after the arguments in ``--help``."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1] + more,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def write_json(path: Path, data: object) -> None:
    """Write (or rewrite, for partial results) one JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def emit(out: Path, row: dict) -> None:
    """Print one result as a JSON line and append it to ``out``: a run cut short keeps it."""
    line = json.dumps(row)
    print(line, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(line + "\n")


def free_port() -> int:
    """A port nothing listens on now, for a server process the bench starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_moto(endpoint: str, tries: int = 100) -> None:
    """Block until a freshly started moto server answers (up to ``tries`` x 0.1 s)."""
    import time

    import httpx

    for _ in range(tries):
        try:
            httpx.get(endpoint + "/moto-api/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {endpoint} did not answer")


def run_json_child(argv: list[str], timeout: float | None = None) -> dict:
    """Run one measurement in a fresh process (so its peak memory and CUDA state are its own)
    and return the JSON object it prints on its last stdout line, or ``{"error": ...}``."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"rc {proc.returncode}: {proc.stderr[-1500:]}"}
    return json.loads(lines[-1])


def random_pipeline(directory: Path, size: str = "community") -> Path:
    """A pyannote pipeline with random weights, built once in ``directory``.

    ``community`` has community-1's architectures (PyanNet segmentation, WeSpeaker ResNet34,
    PLDA/VBx, 1 s step), so its timings are what the real pipeline costs; ``tiny`` is the
    tests' small one. The gated trained weights cannot be downloaded on the bench machines;
    speaker labels from random weights mean nothing. Built by tests/diarize/random_pipeline.py.
    """
    sys.path.insert(0, str(REPO / "tests" / "diarize"))
    from random_pipeline import build_random_pipeline

    if not (directory / "config.yaml").exists():
        build_random_pipeline(directory, size=size)
    return directory
