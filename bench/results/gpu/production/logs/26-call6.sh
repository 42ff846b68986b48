#!/bin/bash
# device call 6 (machine s): the final code (27a3377) as a user runs it: the hour with the built-in pipeline (no settings), large-v3 and turbo shapes, twice each; then community-1's shape once each, to compare with earlier rows
set -x
R="python3 bench/device.py run production -- run --input hour --systems ours"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/26-final-builtin.jsonl
B="--extra-args=--diarization-model=builtin"
$R --model large-v3 --variant builtin $B $NEW --out $O > $OUT/26-run.log 2>&1
$R --model turbo --no-warmup --variant builtin $B $NEW --out $O >> $OUT/26-run.log 2>&1
$R --model large-v3 --no-warmup --variant builtin $B $NEW --out $O >> $OUT/26-run.log 2>&1
$R --model turbo --no-warmup --variant builtin $B $NEW --out $O >> $OUT/26-run.log 2>&1
$R --model large-v3 --no-warmup --variant community $NEW --out $O >> $OUT/26-run.log 2>&1
$R --model turbo --no-warmup --variant community $NEW --out $O >> $OUT/26-run.log 2>&1
