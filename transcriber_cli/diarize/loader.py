"""Decide whether to diarize and load the pyannote pipeline. (Filled in by the diarization work.)"""

from __future__ import annotations

from typing import Any

from transcriber_cli.config import Settings


def load_diarizer(settings: Settings, options: Any, *, device: str) -> tuple[Any, dict | None]:
    if settings.diarize is False:
        return None, {"status": "skipped", "reason": "disabled (--no-diarize)"}
    return None, {"status": "skipped", "reason": "no diarization pipeline configured yet"}
