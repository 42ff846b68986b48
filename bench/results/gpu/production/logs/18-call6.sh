#!/bin/bash
# device call 6 (machine k): the last setup piece, the models and the hour; ours and whisperX with the image as it is (torch without bytecode: PYTHONDONTWRITEBYTECODE, no __pycache__)
set -x
python3 bench/device.py setup bench/.data/device/production_e2e/call6 > $OUT/setup6.log 2>&1
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
T=/opt/torch/.venv/lib/python3.12/site-packages/torch
echo "torch pyc before: $(find $T -name '*.pyc' | wc -l) of $(find $T -name '*.py' | wc -l) py" > $OUT/18-pyc.log
R="python3 bench/device.py run production -- run --input hour --model large-v3"
E="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/18-bytecode.jsonl
$R --systems ours --variant torch-source $E --out $O > $OUT/18-run.log 2>&1
$R --systems whisperx --no-warmup --out $O >> $OUT/18-run.log 2>&1
