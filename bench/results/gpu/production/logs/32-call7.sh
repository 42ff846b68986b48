#!/bin/bash
# device call 7 (machine w): the hour with the built-in speakers, windows of one recording in flight on the GPU: 1 (the code before: one window after another), 2 and 4 (TRANSCRIBER_WINDOWS_PER_DEVICE), interleaved; large-v3 twice each, turbo once
set -x
R="python3 bench/device.py run production -- run --input hour --systems ours --no-warmup --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/32-windows-in-flight.jsonl
for round in 1 2; do
  for w in 1 2 4; do
    $R --model large-v3 --variant windows$w $NEW --env TRANSCRIBER_WINDOWS_PER_DEVICE=$w --out $O >> $OUT/32-run.log 2>&1
  done
done
for w in 1 2 4; do
  $R --model turbo --variant windows$w $NEW --env TRANSCRIBER_WINDOWS_PER_DEVICE=$w --out $O >> $OUT/32-run.log 2>&1
done
# the shipped settings (auto) on the 40-clip folder, once, beside the hours above
python3 bench/device.py run production -- run --input folder --systems ours --no-warmup --extra-args=--diarization-model=builtin --model large-v3 --variant auto $NEW --out $O >> $OUT/32-run.log 2>&1
