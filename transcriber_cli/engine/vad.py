"""Speech regions for the batched pipeline, found on every CPU core at once.

faster-whisper's Silero VAD runs its ONNX session on one thread: for an hour of audio that
is 7-11 s during which the GPU waits (bench/production.md). The session releases the GIL
and serves concurrent calls, so the audio is cut in pieces, each piece is searched on its
own thread, and the regions are joined again. A region that a cut splits is joined back;
the only difference from one pass is the model's state, which restarts at each cut.

What the pipeline then decodes is what its own VAD path would give it: the speech packed
into chunks of up to 30 s (``speech_only``), and the times mapped back afterwards.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from transcriber_cli.media import SAMPLE_RATE

CHUNK_SECONDS = 30  # Whisper's input
MIN_PIECE_SECONDS = 60.0  # shorter pieces cost more in start-up than they save
MAX_THREADS = 8  # each concurrent call holds ~45 MB of ONNX buffers; 8 take an hour in ~1 s
FRAME = 512  # samples: Silero's step at 16 kHz
JOIN_SLACK = int(0.05 * SAMPLE_RATE)  # regions this close to a cut on both sides are one

Region = dict  # {"start": sample, "end": sample}, as faster-whisper's VAD gives them


def _vad_options():
    from faster_whisper.vad import VadOptions

    # The batched pipeline's own defaults: regions of at most one chunk, short pauses kept.
    return VadOptions(max_speech_duration_s=CHUNK_SECONDS, min_silence_duration_ms=160)


def _regions(piece: np.ndarray, offset: int) -> list[Region]:
    from faster_whisper.vad import get_speech_timestamps

    found = get_speech_timestamps(piece, _vad_options())
    return [{"start": offset + r["start"], "end": offset + r["end"]} for r in found]


def speech_regions(audio: np.ndarray, workers: int = 0) -> list[Region]:
    """The speech in ``audio`` (sample offsets), in order, found by ``workers`` threads
    (0 = one per CPU core)."""
    workers = min(workers or os.cpu_count() or 1, MAX_THREADS)
    count = max(1, min(workers, math.floor(len(audio) / SAMPLE_RATE / MIN_PIECE_SECONDS)))
    # Cuts on the model's 512-sample frames, so that every frame is the one a single pass
    # would see (get_speech_timestamps pads the end of each piece only).
    cuts = [len(audio) * i // count // FRAME * FRAME for i in range(count)] + [len(audio)]
    pieces = [(audio[a:b], a) for a, b in zip(cuts, cuts[1:], strict=False)]
    if count == 1:
        found = [_regions(*pieces[0])]
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="vad") as pool:
            found = list(pool.map(lambda p: _regions(*p), pieces))
    joined: list[Region] = []
    for cut, regions in zip(cuts, found, strict=False):
        for region in regions:
            last = joined[-1] if joined else None
            if last and region["start"] <= cut + JOIN_SLACK and last["end"] >= cut - JOIN_SLACK:
                last["end"] = region["end"]  # one region the cut split in two
            else:
                joined.append(dict(region))
    return _split_long(joined)


def _split_long(regions: list[Region]) -> list[Region]:
    """A region joined across a cut can pass one chunk, which Whisper would truncate."""
    most = CHUNK_SECONDS * SAMPLE_RATE
    out: list[Region] = []
    for r in regions:
        parts = -(-(r["end"] - r["start"]) // most)  # ceiling
        bounds = [r["start"] + (r["end"] - r["start"]) * i // parts for i in range(parts + 1)]
        out.extend({"start": a, "end": b} for a, b in zip(bounds, bounds[1:], strict=False))
    return out


def speech_only(audio: np.ndarray, regions: list[Region]) -> tuple[np.ndarray, list[dict]]:
    """The speech joined end to end, and its chunks of up to 30 s as ``clip_timestamps``
    (seconds): exactly what faster-whisper's VAD path feeds the model. Times found in it
    map back through ``faster_whisper.transcribe.restore_speech_timestamps``."""
    from faster_whisper.vad import collect_chunks

    chunks, meta = collect_chunks(audio, regions, max_duration=CHUNK_SECONDS)
    clips = [{"start": m["offset"], "end": m["offset"] + m["duration"]} for m in meta]
    return np.concatenate(chunks), clips
