#!/bin/bash
# device call 9 (machine v): more rounds, large-v3, built-in speakers: the folder new / spectral-only, then the hour, twice
set -x
R="python3 bench/device.py run production -- run --systems ours --model large-v3 --no-warmup --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
SPEC="--env PYTHONPATH=$PWD/bench/closure:/tmp/spec:/tmp/bench-device/site"
O=$OUT/31-folder-and-hour.jsonl
for round in 1 2; do
  $R --input folder --variant spectral-only $SPEC --out $O >> $OUT/31-run.log 2>&1
  $R --input folder --variant new $NEW --out $O >> $OUT/31-run.log 2>&1
  $R --input hour --variant spectral-only $SPEC --out $O >> $OUT/31-run.log 2>&1
done
