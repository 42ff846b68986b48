"""The worker's slots (pure logic): which devices it consumes on, what each slot's jobs run
with, and a job's share of the machine's hour. The processes: test_worker_gpus.py."""

from __future__ import annotations

import pytest

from transcriber_cli.aws.pricing import Rate
from transcriber_cli.config import Settings
from transcriber_cli.engine.gpus import Slot, device_slots, slot_settings
from transcriber_cli.errors import UsageError
from transcriber_cli.store.documents import Charge
from transcriber_cli.worker.devices import SharedTime, jobs_at_once, share

GIB = 1 << 30


@pytest.mark.parametrize(
    ("gpus", "labels"),
    [
        (None, ["cpu#0"]),  # no GPU and no count: one consumer, as before --gpus
        ("all", ["cpu#0"]),  # what the fleet's unit runs: on a CPU, one copy
        ("1", ["cpu#0"]),
        ("2", ["cpu#0", "cpu#1"]),
        ("3", ["cpu#0", "cpu#1", "cpu#2"]),
    ],
)
def test_cpu_slots(gpus, labels):
    slots = device_slots(Settings(device="cpu", gpus=gpus))
    assert [s.label for s in slots] == labels
    assert len({s.index for s in slots}) == len(slots)


def test_gpu_indices_on_a_cpu_are_refused():
    with pytest.raises(UsageError, match="names GPUs"):
        device_slots(Settings(device="cpu", gpus="0,1"))


def test_each_slot_runs_on_its_own_device_and_cores():
    base = Settings(device="auto", cpu_threads=0, model="tiny.en")
    on_gpu = slot_settings(base, Slot("cuda", 3))
    assert (on_gpu.device, on_gpu.gpu_index, on_gpu.model) == ("cuda", 3, "tiny.en")
    copy = slot_settings(base, Slot("cpu", 1, cpu_threads=4))
    assert (copy.device, copy.gpu_index, copy.cpu_threads) == ("cpu", 1, 4)
    # Threads set in the settings are per copy, whatever the share.
    six = base.model_copy(update={"cpu_threads": 6})
    assert slot_settings(six, Slot("cpu")).cpu_threads == 6
    assert slot_settings(six, Slot("cpu", 1, cpu_threads=4)).cpu_threads == 6
    assert base.device == "auto"  # the worker's own settings are left as they were


def test_a_job_pays_its_share_of_a_multi_gpu_machine():
    rate = Rate("g5.12xlarge", 2.0, "Spot price in us-east-1a")
    quarter = share(rate, 4)
    assert quarter is not None and quarter.usd_per_hour == pytest.approx(0.5)
    assert quarter.instance_type == "g5.12xlarge"
    assert quarter.basis == "Spot price in us-east-1a; a 1/4 share (4 devices)"
    assert share(rate, 1) is rate and share(None, 4) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_jobs_at_once_on_a_device_split_its_time_and_a_job_alone_pays_all_of_it():
    clock = Clock()
    shared = SharedTime(clock)
    a = shared.start()
    clock.now += 10  # a alone: 10 s
    b = shared.start()
    assert shared.running == 2
    clock.now += 6  # both: 3 s each
    assert shared.so_far(a) == pytest.approx(13) and shared.so_far(b) == pytest.approx(3)
    c = shared.start()
    clock.now += 3  # three: 1 s each
    assert shared.stop(a) == pytest.approx(14)  # its outputs are up: b and c split from now
    clock.now += 4  # b and c: 2 s each
    assert shared.so_far(b) == pytest.approx(6) and shared.so_far(c) == pytest.approx(3)
    assert shared.so_far(a) == pytest.approx(14)  # kept until forgotten
    shared.forget(a)
    shared.stop(b)
    clock.now += 5  # c alone again
    assert shared.so_far(c) == pytest.approx(8) and shared.stop(b) == pytest.approx(6)
    shared.forget(b)
    shared.forget(c)
    assert shared.running == 0 and shared.so_far(a) == 0
    # The device's 28 s were paid once between them: 14 + 6 + 8.
    clock.now += 50  # idle time is nobody's
    d = shared.start()
    clock.now += 1
    assert shared.so_far(d) == pytest.approx(1)


def test_an_attempt_is_charged_the_device_time_it_had():
    rate = Rate("g5.xlarge", 1.2, "Spot price in us-east-1a")
    alone = Charge(30.0, rate.instance_type, rate.usd_per_hour, rate.basis, shared=30.0)
    beside = Charge(30.0, rate.instance_type, rate.usd_per_hour, rate.basis, shared=7.5)
    (_, inc_alone), (_, inc_beside) = alone.update(), beside.update()
    assert inc_alone == {"cost.gpu_seconds": 30.0, "cost.usd": pytest.approx(0.01)}
    # GPU seconds and dollars follow the device time it had, not its wall time.
    assert inc_beside == {"cost.gpu_seconds": 7.5, "cost.usd": pytest.approx(0.0025)}
    unshared = Charge(30.0, rate.instance_type, rate.usd_per_hour, rate.basis)
    assert unshared.update()[1] == inc_alone


@pytest.mark.parametrize(
    ("asked", "device", "once", "free", "jobs"),
    [(0, "cuda", False, 70 * GIB, 16), (0, "cuda", False, 17 * GIB, 16),
     (0, "cuda", False, 12 * GIB, 4), (0, "cuda", False, None, 4), (0, "cpu", False, None, 1),
     (0, "cuda", True, 70 * GIB, 1), (3, "cuda", True, 70 * GIB, 3), (2, "cpu", False, None, 2)],
)  # fmt: skip
def test_jobs_at_once_follow_the_folder_rule_and_once_takes_one(asked, device, once, free, jobs):
    assert jobs_at_once(asked, device, once, free) == jobs
