#!/bin/bash
# device call 6 (machine n): the GPU tests at main's tip (acb1c3b: the diarizer's windows cut on the GPU, frames to turns by run edges)
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > $OUT/21-gpu.txt
git log --oneline -1 > $OUT/21-commit.txt 2>/dev/null || true
timeout 300 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/21-gputests.log 2>&1
echo "rc=$?" >> $OUT/21-gputests.log
