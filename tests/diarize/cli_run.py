"""The diarization tests' names for the shared subprocess helpers (a sibling conftest.py
shadows ``import conftest`` here, so they are re-exported from the package path)."""

from __future__ import annotations

from tests.conftest import EXAMPLES, json_lines, run_cli

CONVERSATION = EXAMPLES / "conversation.mp4"
run = run_cli


def voice_at(turns: list[dict], t: float) -> str | None:
    """The script's voice speaking at ``t`` (turn edges widened by 0.3 s), or None."""
    for turn in turns:
        if turn["start"] - 0.3 <= t <= turn["end"] + 0.3:
            return turn["speaker"]
    return None


__all__ = ["CONVERSATION", "json_lines", "run", "voice_at"]
