#!/bin/bash
# device call 6: the last setup piece, the models and the hour; the GPU tests (two new: the diarizer cuts its windows on the GPU); the diarizer's input and layout variants alone (bench/diarize_input.py)
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
pip install -q --no-deps --target /tmp/bench-device/site bench/.data/pt/*.whl > $OUT/pt.log 2>&1
timeout 240 python3 bench/device.py exec -- python3 -m pytest tests/gpu tests/test_doctor.py -p no:cacheprovider -o addopts= -q -rs > $OUT/17-gputests.log 2>&1
timeout 200 python3 bench/device.py exec -- python3 bench/diarize_input.py --seconds 1800 --repeats 2 --variants cpu,gpu,gpu+benchmark,gpu+cl+benchmark --out $OUT/17-diarize-input.json > $OUT/17-diarize-input.log 2>&1
ls /tmp/bench-device/ > $OUT/ls.log
