"""Several devices in one process: which ones ``--gpus`` names, and who takes which file.

Each device ("slot") gets its own copy of the models; files go to whichever slot is free
next, longest first, so the last slot never finishes a long file alone while the others
idle. These are pure functions: the runners (``local/``, ``worker/``) do the threading.

``--gpus`` is ``all``, a count ``N`` (the first N GPUs) or a list ``0,2`` (a one-GPU list
needs its comma: ``2,``). Left out, a machine with several GPUs uses them all. On a CPU a
count runs N model copies side by side, each on its share of the cores (what the tests use;
on a many-core machine several small copies can also beat one that spans every core).
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from transcriber_cli.config import Settings, parse_gpus
from transcriber_cli.engine.device import AUTO_BATCH_MAX
from transcriber_cli.errors import DeviceUnavailable, UsageError


@dataclass(frozen=True)
class Slot:
    """One model copy: a GPU (``index`` is its CUDA index) or a share of the CPU."""

    device: str  # "cuda" or "cpu"
    index: int = 0
    cpu_threads: int = 0  # for a CPU copy: its share of the cores (0 = the library default)

    @property
    def label(self) -> str:
        return f"cuda:{self.index}" if self.device == "cuda" else f"cpu#{self.index}"


def plan_slots(
    spec: str | None, device: str, gpu_count: int, cpu_count: int | None = None
) -> list[Slot]:
    """The model copies a run uses. ``device`` is the resolved one ("cuda" or "cpu")."""
    wanted = parse_gpus(spec)
    if device != "cuda":
        if isinstance(wanted, tuple):
            raise UsageError(f"--gpus {spec} names GPUs, but this run is on the CPU")
        if not isinstance(wanted, int) or wanted == 1:
            return [Slot("cpu")]
        cores = cpu_count or os.cpu_count() or 1
        share = max(1, cores // wanted)
        return [Slot("cpu", i, share) for i in range(wanted)]
    if wanted is None or isinstance(wanted, str):  # "all"
        return [Slot("cuda", i) for i in range(max(gpu_count, 1))]
    if isinstance(wanted, int):
        if wanted > gpu_count:
            raise DeviceUnavailable(
                f"--gpus {wanted} asked for, but CTranslate2 sees {gpu_count} GPU(s)",
                hint="use --gpus all",
            )
        return [Slot("cuda", i) for i in range(wanted)]
    missing = [i for i in wanted if i >= gpu_count]
    if missing:
        raise DeviceUnavailable(
            f"--gpus {spec}: no GPU {missing[0]} (CTranslate2 sees {gpu_count}: 0-{gpu_count - 1})"
            if gpu_count
            else f"--gpus {spec}: CTranslate2 sees no GPU",
            hint="nvidia-smi lists them; CUDA_VISIBLE_DEVICES renumbers them from 0",
        )
    return [Slot("cuda", i) for i in wanted]


def device_slots(settings: Settings) -> list[Slot]:
    """The model copies ``settings`` ask for on this machine (local runs and workers): unset
    ``gpus`` is every GPU, or one copy on a CPU."""
    from transcriber_cli.engine.device import cuda_device_count, resolve_device

    device, _ = resolve_device(settings.device, settings.compute_type)
    return plan_slots(settings.gpus, device, cuda_device_count() if device == "cuda" else 0)


AUTO_FILES_GPU = 4
AUTO_FILES_ROOMY_GPU = 16
# Free bytes: on an H100 with 22.7 GiB free (another process held the rest, as a 24 GB
# card would have it) 16 files of large-v3 still beat 4 by 1.26-1.30x and peaked 17.3 GiB
# above what was in use; 16 jobs in a worker, 1.47x, 19.6 GiB (bench/production.md).
ROOMY_GPU = 16 << 30
AUTO_WINDOWS = 4  # of one file alone on a GPU (windows_in_flight)
WINDOW_SECONDS = 600.0  # a window's length by default (window_length)
# Audio per 30 s chunk the batched pipeline decodes, in speech without long pauses: the
# bench's hour packs into 122 chunks, one per 29.4 s, and its 928 s windows into 30-31.
SECONDS_PER_CHUNK = 29.0
# Longer windows pay where the decoder's calls are the cost: large-v3's 32 layers (medium's
# 24 too, not measured), not turbo's 4, whose encoder is the cost (bench/production.md).
DEEP_DECODER = 24


def in_flight(asked: int, device: str, free: int | None = None) -> int:
    """Files (a folder run) or jobs (a worker) one device works on at once: ``asked``, or
    when that is 0 (auto) on a GPU 16 where ``free`` (its free memory as they start) is
    16 GiB or more, else 4, and 1 on a CPU, which the speaker step already fills. On a GPU
    they share decoder calls (engine/merged.py), which fill up, and one's transcription
    hides another's speaker step and CPU work. The 40-clip folder with large-v3 on an H100:
    36.6-37.0 s with 4, 29.7-30.5 s with 8, 26.4-26.6 s with 16, 25.6 s with 32 (the GPU
    peak 19.0-20.2, 29.0-31.0, 32.5 and 36.0 GiB); the same 40 clips as 40 jobs of a worker:
    80.2 s one at a time, 41.8 s with 4, 28.0 s with 16 (bench/production.md)."""
    if asked:
        return asked
    if device != "cuda":
        return 1
    return AUTO_FILES_ROOMY_GPU if free is not None and free >= ROOMY_GPU else AUTO_FILES_GPU


def files_in_flight(settings: Settings, device: str, free: int | None = None) -> int:
    """Files a device of a folder run works on at once (``files_per_device``; ``in_flight``)."""
    return in_flight(settings.files_per_device, device, free)


def windows_in_flight(settings: Settings, device: str, files: int = 1) -> int:
    """Windows of one recording a device works on at once: ``windows_per_device``, or when
    that is 0 (auto) 4 on a GPU with one file (or job) in flight, where their decoder calls
    are merged into full batches (a call costs its steps more than its rows; on an H100 the
    large-v3 hour took 12.10 s with 4 against 12.28 s with 2, turbo's 6.52 against 6.84 s,
    the GPU peak 0.5-1.2 GiB higher: CTranslate2's batches are bounded by the batch size,
    chosen from free memory), else 1: files in flight already fill those calls. The torch
    beam search (opt-in) gets 2: its memory grows with the windows (the hour peaked at 71 GiB
    with 4 against 50 GiB with 2). A stop loses at most the windows in flight. A CPU is
    filled by one window."""
    if settings.windows_per_device:
        return settings.windows_per_device
    if device != "cuda" or files > 1:
        return 1
    return 2 if settings.whisper_decoder == "torch" else AUTO_WINDOWS


def window_length(
    settings: Settings,
    device: str,
    alone: bool,
    batch: int = 0,
    decoder_layers: int = 0,
    seconds: float = 0.0,
    in_flight: int = 1,
) -> float:
    """How long the windows of a recording of ``seconds`` are: ``window_seconds``, or when
    that is 0 (auto) for a model of a deep decoder (``DEEP_DECODER`` layers or more) on a GPU
    with the file (or job) ``alone`` on it, the recording split into as many equal windows as
    are ``in_flight`` at least, each at most the speech of one decoder call (``batch`` chunks,
    at most the auto batch's cap) and at least 600 s; else 600 s. A shorter file keeps 600 s
    windows: fewer ones would leave decoder lanes idle. Each window then makes one full call,
    not a part-full one: the large-v3 hour on an H100 (a batch of 32 a lane, two lanes) made
    six calls of 19-24 chunks in three rounds in 600 s windows, four of 30-31 in two rounds in
    928 s ones, and its transcription took 0.45-0.7 s less. Turbo's hour in two windows of
    one call each (its batch is 64) was slower in 4 of 4 rounds: its decoder calls are short,
    and two windows overlap one's encoding with the other's decoding less than four do
    (bench/production.md).
    Beside other files, theirs fill the calls (engine/merged.py), and a file spread over
    several GPUs wants more windows, not fuller ones."""
    if settings.window_seconds:
        return settings.window_seconds
    if device != "cuda" or not alone or batch <= 1 or decoder_layers < DEEP_DECODER:
        return WINDOW_SECONDS
    call = min(batch, AUTO_BATCH_MAX) * SECONDS_PER_CHUNK  # a job's batch_size may be 256
    windows = max(in_flight, math.ceil(seconds / call))
    return max(WINDOW_SECONDS, round(seconds / windows, 1))


def spread(devices: int, files: int, per_device: int) -> tuple[int, int]:
    """(devices used, files in flight on each) for ``files`` over ``devices``: every device
    gets a file before any takes a second, and none is started for nothing to do."""
    used = max(1, min(devices, files))
    return used, max(1, min(per_device, -(-files // used)))


def slot_settings(settings: Settings, slot: Slot) -> Settings:
    """``settings`` as one model copy runs with them (local runs and workers alike): its
    device and GPU, and for a CPU copy its share of the cores unless ``cpu_threads`` was set
    (then it is per copy)."""
    return settings.model_copy(
        update={
            "device": slot.device,
            "gpu_index": slot.index,
            "cpu_threads": settings.cpu_threads or slot.cpu_threads,
        }
    )


def longest_first(durations: Sequence[float]) -> list[int]:
    """Indices of ``durations``, longest first (stable: equal lengths keep their order)."""
    return sorted(range(len(durations)), key=lambda i: -durations[i])


def schedule(durations: Sequence[float], slots: int) -> list[list[int]]:
    """Which slot takes which file when every free slot takes the longest file left: the
    order the runners follow, worked out ahead (for tests, and for ``--dry-run`` style
    reports). Cost is taken as proportional to duration."""
    if slots < 1:
        raise ValueError("slots must be at least 1")
    plan: list[list[int]] = [[] for _ in range(slots)]
    free: list[tuple[float, int]] = [(0.0, s) for s in range(slots)]  # (busy until, slot)
    for i in longest_first(durations):
        until, slot = heapq.heappop(free)
        plan[slot].append(i)
        heapq.heappush(free, (until + durations[i], slot))
    return plan


def makespan(durations: Sequence[float], plan: Sequence[Sequence[int]]) -> float:
    """The time the busiest slot of ``plan`` works."""
    return max((sum(durations[i] for i in files) for files in plan), default=0.0)
