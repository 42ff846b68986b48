#!/bin/bash
# device call 8 (machine t): the code of e4a4f29, the hour with the built-in speakers: transcription windows (checkpoints) of 600 s (the default), 1800 s and 3600 s, interleaved; large-v3 twice, turbo once
set -x
R="python3 bench/device.py run production -- run --input hour --systems ours --extra-args=--diarization-model=builtin"
NEW="--env PYTHONPATH=$PWD/bench/closure:$PWD:/tmp/bench-device/site"
O=$OUT/27-windows.jsonl
$R --model large-v3 --variant w600 $NEW --out $O > $OUT/27-run.log 2>&1
for round in 1 2; do
  for w in 1800 3600 600; do
    $R --model large-v3 --no-warmup --variant w$w $NEW --env TRANSCRIBER_WINDOW_SECONDS=$w --out $O >> $OUT/27-run.log 2>&1
  done
done
for w in 600 1800 3600; do
  $R --model turbo --no-warmup --variant w$w $NEW --env TRANSCRIBER_WINDOW_SECONDS=$w --out $O >> $OUT/27-run.log 2>&1
done
