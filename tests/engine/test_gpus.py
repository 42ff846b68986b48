"""--gpus: which devices a run uses, and the longest-first schedule over them (pure logic,
with as many fake GPUs as a test likes)."""

from __future__ import annotations

import itertools
import random

import pytest

from transcriber_cli.config import Settings
from transcriber_cli.engine.gpus import (
    Slot,
    files_in_flight,
    in_flight,
    longest_first,
    makespan,
    plan_slots,
    schedule,
    spread,
    window_length,
    windows_in_flight,
)
from transcriber_cli.errors import DeviceUnavailable, UsageError


@pytest.mark.parametrize(
    ("spec", "count", "indices"),
    [
        (None, 4, [0, 1, 2, 3]),  # the default on a multi-GPU machine: every GPU
        (None, 1, [0]),
        ("all", 8, list(range(8))),
        ("2", 4, [0, 1]),
        ("0,2", 4, [0, 2]),
        ("3,", 4, [3]),  # one GPU by index
        ("2,0,2", 4, [2, 0]),  # each once, in the order given
        (" ALL ", 2, [0, 1]),
    ],
)
def test_gpus_name_the_cuda_devices(spec, count, indices):
    slots = plan_slots(spec, "cuda", count)
    assert [s.index for s in slots] == indices
    assert {s.device for s in slots} == {"cuda"}
    assert [s.label for s in slots] == [f"cuda:{i}" for i in indices]


@pytest.mark.parametrize(
    ("spec", "count", "message"),
    [
        ("4", 2, "asked for, but CTranslate2 sees 2"),
        ("0,5", 4, "no GPU 5"),
        ("1,", 0, "sees no GPU"),
    ],
)
def test_gpus_that_are_not_there_are_a_setup_error(spec, count, message):
    with pytest.raises(DeviceUnavailable, match=message):
        plan_slots(spec, "cuda", count)


@pytest.mark.parametrize("spec", ["0", "-1", "x", "1,a", ",", "1.5", "-1,2"])
def test_malformed_gpus_are_a_usage_error(spec):
    with pytest.raises(UsageError, match="--gpus"):
        plan_slots(spec, "cuda", 4)
    with pytest.raises(ValueError, match="--gpus"):
        Settings(gpus=spec)


def test_cpu_counts_are_model_copies_sharing_the_cores():
    assert plan_slots(None, "cpu", 0) == [Slot("cpu")]
    assert plan_slots("all", "cpu", 0) == [Slot("cpu")]
    assert plan_slots("1", "cpu", 0) == [Slot("cpu")]
    assert plan_slots("2", "cpu", 0, cpu_count=8) == [Slot("cpu", 0, 4), Slot("cpu", 1, 4)]
    assert plan_slots("3", "cpu", 0, cpu_count=2) == [Slot("cpu", i, 1) for i in range(3)]
    with pytest.raises(UsageError, match="names GPUs, but this run is on the CPU"):
        plan_slots("0,1", "cpu", 0)


def test_longest_first_is_stable():
    assert longest_first([3, 5, 3, 1, 5]) == [1, 4, 0, 2, 3]
    assert longest_first([]) == []


def _optimal(durations, slots):
    best = float("inf")
    for assignment in itertools.product(range(slots), repeat=len(durations)):
        loads = [0.0] * slots
        for i, s in enumerate(assignment):
            loads[s] += durations[i]
        best = min(best, max(loads))
    return best


def test_schedule_gives_every_file_to_exactly_one_slot_and_stays_near_optimal():
    rng = random.Random(7)
    for _ in range(60):
        n, slots = rng.randint(1, 8), rng.randint(1, 4)
        durations = [rng.uniform(60, 300) for _ in range(n)]
        plan = schedule(durations, slots)
        assert len(plan) == slots
        assert sorted(i for files in plan for i in files) == list(range(n))
        # longest-processing-time-first is within 4/3 of the best split (Graham's bound)
        assert makespan(durations, plan) <= _optimal(durations, slots) * 4 / 3 + 1e-9


def test_schedule_keeps_the_last_slot_from_finishing_a_long_file_alone():
    # In the listed order, two slots taking files as they come finish at 11 and 3 hours:
    # the long file comes last. Longest first, it starts at once: 8 and 6.
    durations = [1, 1, 1, 1, 1, 1, 8]
    plan = schedule(durations, 2)
    assert plan[0] == [6]
    assert makespan(durations, plan) == 8
    with pytest.raises(ValueError):
        schedule(durations, 0)


GIB = 1 << 30


@pytest.mark.parametrize(
    ("setting", "device", "free", "files"),
    [(0, "cuda", None, 4), (0, "cuda", 10 * GIB, 4), (0, "cuda", 16 * GIB - 1, 4),
     (0, "cuda", 16 * GIB, 16), (0, "cuda", 22 * GIB, 16), (0, "cuda", 130 * GIB, 16),
     (0, "cpu", None, 1), (1, "cuda", 80 * GIB, 1), (3, "cpu", None, 3), (2, "cuda", None, 2),
     (32, "cuda", 80 * GIB, 32)],
)  # fmt: skip
def test_files_or_jobs_in_flight_default_to_sixteen_on_a_gpu_with_room_four_on_another(
    setting, device, free, files
):
    # A folder run's files and a worker's jobs follow the one rule.
    assert files_in_flight(Settings(files_per_device=setting), device, free) == files
    assert in_flight(setting, device, free) == files


@pytest.mark.parametrize(
    ("setting", "device", "files", "decoder", "windows"),
    [(0, "cuda", 1, "ctranslate2", 4), (0, "cuda", 4, "ctranslate2", 1),
     (0, "cuda", 2, "ctranslate2", 1), (0, "cpu", 1, "ctranslate2", 1),
     (0, "cuda", 1, "torch", 2), (0, "cuda", 2, "torch", 1), (2, "cuda", 1, "ctranslate2", 2),
     (4, "cuda", 4, "ctranslate2", 4), (4, "cuda", 1, "torch", 4), (3, "cpu", 1, "torch", 3)],
)  # fmt: skip
def test_windows_in_flight_are_four_on_a_gpu_with_one_file_two_for_torch_else_one(
    setting, device, files, decoder, windows
):
    """Files in flight already fill the decoder calls; windows of each would add memory. The
    torch search's memory grows with its windows: 2."""
    settings = Settings(windows_per_device=setting, whisper_decoder=decoder)
    assert windows_in_flight(settings, device, files) == windows


@pytest.mark.parametrize(
    ("setting", "device", "alone", "batch", "layers", "length", "seconds"),
    [(0, "cuda", True, 32, 32, 3587.5, 896.9),  # large-v3's hour on an H100: 4 windows
     (0, "cuda", True, 32, 32, 7200, 900), (0, "cuda", True, 64, 32, 7200, 1800),  # 8, 4
     (0, "cuda", True, 256, 32, 36000, 1800),  # a job's batch of 256: one of 64 at most
     (0, "cuda", True, 32, 32, 1100, 600),  # shorter than 4 x 600 s: 600 s, as before
     (0, "cuda", True, 64, 4, 7200, 600), (0, "cuda", True, 64, 2, 7200, 600),  # turbo, distil
     (0, "cuda", True, 1, 32, 7200, 600),  # one window at a time: 600 s
     (0, "cuda", False, 64, 32, 7200, 600), (0, "cpu", True, 8, 32, 7200, 600),  # files; CPU
     (300, "cuda", True, 64, 32, 7200, 300), (930, "cpu", True, 8, 4, 7200, 930)],  # asked for
)  # fmt: skip
def test_auto_windows_hold_one_full_decoder_call_of_a_deep_decoder_alone_on_a_gpu(
    setting, device, alone, batch, layers, length, seconds
):
    """A window of 600 s held 19-24 of the hour's chunks: part-full calls under a batch of
    32; 928 s hold 30-31 (the bench's hour, one chunk per 29.4 s). As many windows as are in
    flight (4) at least, so no decoder lane idles. Turbo's 4-layer decoder was slower in
    windows of one call: 600 s."""
    settings = Settings(window_seconds=setting)
    assert window_length(settings, device, alone, batch, layers, length, 4) == seconds


@pytest.mark.parametrize(
    ("devices", "files", "per_device", "expected"),
    [
        (2, 2, 2, (2, 1)),  # each GPU its own file before any takes a second
        (4, 4, 2, (4, 1)),
        (8, 10, 2, (8, 2)),
        (1, 5, 2, (1, 2)),
        (2, 1, 2, (1, 1)),  # no copy for nothing to do
        (4, 3, 1, (3, 1)),
        (2, 9, 4, (2, 4)),
        (3, 0, 2, (1, 1)),
    ],
)
def test_spread_fills_every_device_before_a_second_lane(devices, files, per_device, expected):
    assert spread(devices, files, per_device) == expected
