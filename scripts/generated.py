"""What the docs generators share: write a generated page, or with --check say it is stale."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(out: Path, text: str, script: str) -> int:
    """``--check``: 1 when ``out`` differs from ``text`` (the fix: ``script --fix``); else
    write it. The exit status for ``sys.exit``."""
    if "--check" in sys.argv:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is stale: run `python {script} --fix`", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.write_text(text)
    print(f"wrote {out}")
    return 0
