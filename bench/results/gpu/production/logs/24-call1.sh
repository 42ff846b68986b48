#!/bin/bash
# device call 1 (machine q, fresh): setup, the GPU tests on the built-in pipeline without pyannote.audio (working tree), then the models
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 240 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/24-gputests.log 2>&1
echo "rc=$?" >> $OUT/24-gputests.log
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
echo "prepare rc=$?" >> $OUT/prepare.log
