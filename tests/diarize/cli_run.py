"""Run our console scripts as real subprocesses (the diarization tests' copy of the root
conftest helper: a sibling conftest.py shadows ``import conftest`` here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
CONVERSATION = ROOT / "examples" / "conversation.mp4"


def run(
    *args: str, program: str = "transcribe", env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
    return subprocess.run(
        [str(BIN / program), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]
