#!/bin/bash
# device call 7 (machine o): turbo, native against before, interleaved; whisperX 3.8.6 once (large-v3) for the ratio; native large-v3 once more after it
set -x
R="python3 bench/device.py run production -- run --input hour"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:/tmp/head:/tmp/bench-device/site"
O=$OUT/22-native-2.jsonl
for round in 1 2; do
  $R --systems ours --model turbo --no-warmup --variant native $NEW --out $O >> $OUT/22-run-2.log 2>&1
  $R --systems ours --model turbo --no-warmup --variant before $OLD --out $O >> $OUT/22-run-2.log 2>&1
done
$R --systems whisperx --model large-v3 --no-warmup --out $O >> $OUT/22-run-2.log 2>&1
$R --systems ours --model large-v3 --no-warmup --variant native $NEW --out $O >> $OUT/22-run-2.log 2>&1
