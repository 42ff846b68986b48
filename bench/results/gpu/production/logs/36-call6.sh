#!/bin/bash
# device call 6 (second fresh machine of the session): the last setup piece, pytest, the process-exit tests on Python 3.12 (the cProfile fix), the models and the 40-clip folder
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 100 python3 bench/device.py exec -- python3 -m pytest tests/test_process_exit.py -p no:cacheprovider -o addopts= -q -rs > $OUT/36-exit-tests.log 2>&1
echo "rc=$?" >> $OUT/36-exit-tests.log
python3 bench/device.py run production -- prepare --files 1 --models large-v3 > $OUT/prepare.log 2>&1
echo "prepare rc=$?" >> $OUT/prepare.log
python3 bench/device.py run production -- make-folder --files 40 > $OUT/36-folder-make.log 2>&1
echo "folder rc=$?" >> $OUT/36-folder-make.log
