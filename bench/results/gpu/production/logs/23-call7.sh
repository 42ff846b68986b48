#!/bin/bash
# device call 7 (machine p): the final code (1d449e2) on a second machine: the models, then ours (native) and whisperX 3.8.6 paired, large-v3, and turbo once
set -x
python3 bench/device.py run production -- prepare --files 1 --models large-v3,turbo > $OUT/prepare.log 2>&1
R="python3 bench/device.py run production -- run --input hour"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/23-native-machine-p.jsonl
$R --systems ours --model large-v3 --variant native $NEW --out $O > $OUT/23-run.log 2>&1
$R --systems whisperx --model large-v3 --no-warmup --out $O >> $OUT/23-run.log 2>&1
$R --systems ours --model large-v3 --no-warmup --variant native $NEW --out $O >> $OUT/23-run.log 2>&1
$R --systems ours --model turbo --no-warmup --variant native $NEW --out $O >> $OUT/23-run.log 2>&1
