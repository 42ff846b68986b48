#!/bin/bash
# device call 6 (fresh machine): the last setup piece, pytest, the GPU tests and the process-exit tests on the working tree (the language detected before the windows start), the models and the 40-clip folder
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
echo "prepare rc=$?" >> $OUT/prepare.log
timeout 200 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_process_exit.py -p no:cacheprovider -o addopts= -q -rs > $OUT/35-gputests.log 2>&1
echo "rc=$?" >> $OUT/35-gputests.log
python3 bench/device.py run production -- make-folder --files 40 > $OUT/35-folder-make.log 2>&1
echo "folder rc=$?" >> $OUT/35-folder-make.log
