#!/bin/bash
# device call 7: files in flight on one GPU for the 40-clip folder (large-v3, built-in speakers, --timeline; the working tree, which allows up to 8): 4 (the auto value), 8 and 6, interleaved, two rounds, the hour (auto) in each round for the per-audio-hour ratio
set -x
R="python3 bench/device.py run production -- run --systems ours --no-warmup --timeline --extra-args=--diarization-model=builtin --model large-v3"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/36-files-in-flight.jsonl
for round in 1 2; do
  $R --input hour --variant new $NEW --out $O >> $OUT/36-run.log 2>&1
  for f in 4 8 6; do
    $R --input folder --variant new-f$f $NEW --env TRANSCRIBER_FILES_PER_DEVICE=$f --out $O >> $OUT/36-run.log 2>&1
  done
done
