#!/bin/bash
# device call 6 (second fresh machine of the session): the last setup piece, pytest, the process-exit test fixed (-m tiny.en) and the early-diarization test; the models
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 120 python3 bench/device.py exec -- python3 -m pytest tests/gpu/test_cuda.py tests/test_process_exit.py -p no:cacheprovider -o addopts= -q -rs -k "whisper_still_loads or process or leaves or exits or message" > $OUT/34-gputests.log 2>&1
echo "rc=$?" >> $OUT/34-gputests.log
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
echo "prepare rc=$?" >> $OUT/prepare.log
