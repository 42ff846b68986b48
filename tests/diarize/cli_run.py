"""The diarization tests' names for the shared subprocess helpers (a sibling conftest.py
shadows ``import conftest`` here, so they are re-exported from the package path)."""

from __future__ import annotations

from tests.conftest import EXAMPLES, json_lines, run_cli

CONVERSATION = EXAMPLES / "conversation.mp4"
run = run_cli

__all__ = ["CONVERSATION", "json_lines", "run"]
