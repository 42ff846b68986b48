#!/bin/bash
# device call 8 (machine o): the 40-clip folder (cut from the hour), native against before, interleaved; turbo native once
set -x
python3 bench/device.py run production -- make-folder --files 40 > $OUT/22-folder-make.log 2>&1
R="python3 bench/device.py run production -- run --input folder --systems ours"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
OLD="--env PYTHONPATH=$PWD/bench/closure:/tmp/head:/tmp/bench-device/site"
O=$OUT/22-native-folder.jsonl
for round in 1 2; do
  $R --model large-v3 --no-warmup --variant native $NEW --out $O >> $OUT/22-run-folder.log 2>&1
  $R --model large-v3 --no-warmup --variant before $OLD --out $O >> $OUT/22-run-folder.log 2>&1
done
$R --model turbo --no-warmup --variant native $NEW --out $O >> $OUT/22-run-folder.log 2>&1
