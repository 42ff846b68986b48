#!/bin/bash
# device call 5 (machine s, fresh): setup, the GPU tests on the final code (27a3377: the built-in pipeline without pyannote.audio, 256 windows per batch on a GPU), then the models
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 240 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py tests/diarize/test_dvector.py -p no:cacheprovider -o addopts= -q -rs > $OUT/26-gputests.log 2>&1
echo "rc=$?" >> $OUT/26-gputests.log
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
echo "prepare rc=$?" >> $OUT/prepare.log
