#!/bin/bash
# device call 6 (machine l): setup as changed in b75b9e7 (the image's torch byte-compiled), checked; the GPU tests at the tip
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
grep -n "compileall" $OUT/setup.log > $OUT/19-compile.log
echo "torch pyc: $(find /opt/torch/.venv/lib/python3.12/site-packages/torch -name '*.pyc' | wc -l)" >> $OUT/19-compile.log
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 240 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/19-gputests.log 2>&1
