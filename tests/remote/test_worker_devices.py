"""The worker's slots (pure logic): which devices it consumes on, what each slot's jobs run
with, and a job's share of the machine's hour. The processes: test_worker_gpus.py."""

from __future__ import annotations

import pytest

from transcriber_cli.aws.pricing import Rate
from transcriber_cli.config import Settings
from transcriber_cli.engine.gpus import Slot, device_slots, slot_settings
from transcriber_cli.errors import UsageError
from transcriber_cli.worker.devices import share


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
    # --concurrency 2: eight jobs at once on the four GPUs cost what the instance costs.
    eighth = share(rate, 4, 2)
    assert eighth is not None and eighth.usd_per_hour == pytest.approx(0.25)
    assert eighth.basis == "Spot price in us-east-1a; a 1/8 share (4 devices x 2 jobs each)"
    half = share(rate, 1, 2)
    assert half is not None and half.basis.endswith("a 1/2 share (1 device x 2 jobs each)")
