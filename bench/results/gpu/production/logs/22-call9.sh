#!/bin/bash
# device call 9 (machine o): a second whisperX 3.8.6 run paired with ours (native), large-v3, the hour; turbo native once more
set -x
R="python3 bench/device.py run production -- run --input hour"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/22-native-3.jsonl
$R --systems whisperx --model large-v3 --no-warmup --out $O >> $OUT/22-run-3.log 2>&1
$R --systems ours --model large-v3 --no-warmup --variant native $NEW --out $O >> $OUT/22-run-3.log 2>&1
$R --systems ours --model turbo --no-warmup --variant native $NEW --out $O >> $OUT/22-run-3.log 2>&1
