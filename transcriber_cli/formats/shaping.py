"""Subtitle shaping: the limits a cue keeps, named presets, and formats bound to them.

Presets (numbers and sources in docs/formats.md): ``web`` keeps the long-standing defaults;
``broadcast`` follows the BBC's line length and Netflix's timing rules; ``one-line`` puts a
single line on screen. Explicit limits override the preset's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from transcriber_cli.formats.base import OutputFormat
from transcriber_cli.options import SubtitleOptions, SubtitlePreset

FRAME_24 = 1 / 24


@dataclass(frozen=True)
class Shaping:
    max_chars: int = 42
    max_lines: int = 2
    max_duration: float = 7.0
    min_gap: float = 0.0
    min_duration: float = 0.3  # players drop cues shorter than a few frames
    highlight_words: bool = False  # WebVTT only


PRESETS: dict[SubtitlePreset, Shaping] = {
    "web": Shaping(),
    # BBC subtitle guidelines 3.1 and 3.3 (68% of a 16:9 width ~ 37 characters, 2 lines); Netflix
    # timed-text style guide (7 s at most, 5/6 s at least, a gap of 2 frames).
    "broadcast": Shaping(
        max_chars=37,
        max_lines=2,
        max_duration=7.0,
        min_gap=2 * FRAME_24,
        min_duration=20 * FRAME_24,
    ),
    "one-line": Shaping(max_lines=1),
}
DEFAULT = PRESETS["web"]


def shaping_from(options: SubtitleOptions) -> Shaping:
    """The preset's limits with every explicitly given one put over them."""
    base = PRESETS[options.subtitle_preset]
    return Shaping(
        max_chars=options.max_line_width or base.max_chars,
        max_lines=options.max_lines or base.max_lines,
        max_duration=options.max_cue_duration or base.max_duration,
        min_gap=base.min_gap if options.min_gap is None else options.min_gap,
        min_duration=base.min_duration,
        highlight_words=options.vtt_highlight_words,
    )


def shaped(formats: Sequence[OutputFormat], shaping: Shaping) -> list[OutputFormat]:
    """``formats`` with the subtitle writers bound to ``shaping``. A bound format is marked
    ``from_transcript``: a remote run renders it here from the job's transcript JSON, since
    workers write the default shaping."""
    if shaping == DEFAULT:
        return list(formats)
    return [
        dataclasses.replace(f, write=partial(f.write_shaped, shaping=shaping), from_transcript=True)
        if f.write_shaped
        else f
        for f in formats
    ]
