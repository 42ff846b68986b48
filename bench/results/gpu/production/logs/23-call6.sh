#!/bin/bash
# device call 6 (machine p, fresh): the GPU tests on the native diarizer's final code (1d449e2, after the review fixes)
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 300 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/23-gputests.log 2>&1
echo "rc=$?" >> $OUT/23-gputests.log
